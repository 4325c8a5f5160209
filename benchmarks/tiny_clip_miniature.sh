#!/usr/bin/env bash
# The paper's claims in miniature with a CLIP-architecture VLM: the tiny CLIP of the toy world
# (toyworld/tiny-clip, docs/tiny-clip.md). Writes the world to runs/toyworld, trains what is missing
# (proposal network and per-pixel baseline on the seen classes, a CoOp prompt) and evaluates into
# results/tiny-*/. Two zero-shot splits:
#   compositional: 5 unseen classes, each a colour and a shape that both occur in seen classes;
#   heldout:       a whole colour (purple) and a whole shape (star) unseen, 9 classes.
# Usage: bash benchmarks/tiny_clip_miniature.sh [vlm|compositional|heldout]...   (default: all)
set -euo pipefail
W=runs/toyworld
CLIP=toyworld/tiny-clip
[ -d $W/val ] || python -m toyworld --out $W --train 600 --val 100
V=(--dataset generic --root $W --split val --model $CLIP --short-side 96)
run() { local name=$1; shift; echo "== $name"; zsseg eval "${V[@]}" "$@" --out "results/tiny-$name" --quiet; }

vlm() {  # no training on the world: the VLM alone, masked crops vs one dense pass
  run crops-graph   --proposals graph
  run dense-slic    --proposals slic --crop dense
  run maskclip-slic --proposals slic --crop maskclip
}

split() {  # NAME UNSEEN
  local name=$1 U=$2 mf=runs/toy-$1/model.pt pp=runs/toy-$1-per-pixel/model.pt prompt=runs/toy-$1-coop.pt
  local ref=runs/toy-$1-coop-reference.pt
  # always called: a run resumes from its last.pt (an interrupted run's model.pt is a checkpoint,
  # not the final network) and returns at once when it is complete
  zsseg train --config configs/toy_$name.json --quiet
  zsseg train --config configs/toy_${name}_per_pixel.json --quiet
  [ -f $prompt ] || zsseg learn-prompts --dataset generic --root $W --unseen "$U" --model $CLIP --short-side 96 --out $prompt
  [ -f $ref ] || zsseg learn-prompts --dataset generic --root $W --unseen "$U" --model $CLIP --short-side 96 \
    --recipe reference --iterations 300 --out $ref
  run $name-two-stage         --unseen "$U" --proposals maskformer --proposals-model $mf
  run $name-two-stage-swapped --unseen "$U" --proposals maskformer --proposals-model $mf --ensemble-weight 0.2
  run $name-two-stage-coop    --unseen "$U" --proposals maskformer --proposals-model $mf --templates learned:$prompt
  run $name-two-stage-coop-reference --unseen "$U" --proposals maskformer --proposals-model $mf --templates learned:$ref
  run $name-per-pixel         --unseen "$U" --per-pixel-model $pp
  run $name-oracle-maskformer --unseen "$U" --oracle --proposals maskformer --proposals-model $mf
  run $name-oracle-graph      --unseen "$U" --oracle --proposals graph
}

compositional() { split compositional "red circle, green square, blue cross, yellow triangle, purple star"; }
heldout() { split heldout "purple circle, purple square, purple triangle, purple star, purple cross, red star, green star, blue star, yellow star"; }

for step in ${@:-vlm compositional heldout}; do $step; done
