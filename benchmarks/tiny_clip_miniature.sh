#!/usr/bin/env bash
# The paper's claims in miniature with a CLIP-architecture VLM: the tiny CLIP of the toy world
# (toyworld/tiny-clip). Writes the world to runs/toyworld, trains what is missing (proposal network
# and per-pixel baseline on the seen classes, a CoOp prompt), evaluates into results/tiny-*/.
# Usage: bash benchmarks/tiny_clip_miniature.sh
set -euo pipefail
W=runs/toyworld
CLIP=toyworld/tiny-clip
U="red circle, green square, blue cross, yellow triangle, purple star"
[ -d $W/val ] || python -m toyworld --out $W --train 600 --val 100
[ -f runs/toy-seen/model.pt ] || zsseg train --config configs/toy_seen.json --quiet
[ -f runs/toy-seen-per-pixel/model.pt ] || zsseg train --config configs/toy_seen_per_pixel.json --quiet
[ -f runs/toy-coop.pt ] || zsseg learn-prompts --dataset generic --root $W --unseen "$U" --model $CLIP --short-side 96 --out runs/toy-coop.pt
V=(--dataset generic --root $W --split val --model $CLIP --short-side 96)
run() { name=$1; shift; echo "== $name"; zsseg eval "${V[@]}" "$@" --out "results/tiny-$name" --quiet; }
# every class unseen by nothing: the VLM alone, masked crops vs dense classification
run crops-graph            --proposals graph
run dense-slic             --proposals slic --crop dense
run maskclip-slic          --proposals slic --crop maskclip
# the zero-shot protocol: proposal network and per-pixel baseline trained on the seen classes
run zs-two-stage           --unseen "$U" --proposals maskformer --proposals-model runs/toy-seen/model.pt
run zs-two-stage-swapped   --unseen "$U" --proposals maskformer --proposals-model runs/toy-seen/model.pt --ensemble-weight 0.2
run zs-per-pixel           --unseen "$U" --per-pixel-model runs/toy-seen-per-pixel/model.pt
run zs-oracle-maskformer   --unseen "$U" --oracle --proposals maskformer --proposals-model runs/toy-seen/model.pt
run zs-oracle-graph        --unseen "$U" --oracle --proposals graph
run zs-two-stage-coop      --unseen "$U" --proposals maskformer --proposals-model runs/toy-seen/model.pt --templates learned:runs/toy-coop.pt
