#!/usr/bin/env bash
# The paper's claims in miniature (README "Zero-shot, trained here"): train the stage-1 network and
# the per-pixel baseline on the seen classes, learn CoOp prompts, then evaluate everything on the
# val split with the unseen classes named. Writes runs/<config>/ and results/zs-<row>/.
# Usage: benchmarks/zero_shot_miniature.sh [voc|camvid]...   (default: both; training ~30-40 min per config on 2 cores)
set -euo pipefail
D=${SHARED:-../shared}/data
run() { name=$1; shift; echo "== $name"; zsseg eval "$@" --out "results/zs-$name" --quiet; }

voc() {
  local U="pottedplant, sheep, sofa, train, tvmonitor" V=(--dataset voc20 --root "$D/voc2012" --split val)
  for c in voc15_small voc15_per_pixel_small; do [ -f "runs/${c//_/-}/model.pt" ] || zsseg train --config "configs/$c.json"; done
  [ -f runs/coop-voc15-conse.pt ] || zsseg learn-prompts --dataset voc20 --root "$D/voc2012" --unseen "$U" --out runs/coop-voc15-conse.pt
  run voc15-graph            "${V[@]}" --unseen "$U"
  run voc15-graph-coop       "${V[@]}" --unseen "$U" --templates learned:runs/coop-voc15-conse.pt
  run voc15-maskformer       "${V[@]}" --unseen "$U" --proposals maskformer --proposals-model runs/voc15-small/model.pt
  run voc15-maskformer-coop  "${V[@]}" --unseen "$U" --proposals maskformer --proposals-model runs/voc15-small/model.pt --templates learned:runs/coop-voc15-conse.pt
  run voc15-per-pixel        "${V[@]}" --unseen "$U" --per-pixel-model runs/voc15-per-pixel-small/model.pt
  for p in graph slic; do run voc15-oracle-$p "${V[@]}" --unseen "$U" --oracle --proposals $p; done
  run voc15-oracle-maskformer "${V[@]}" --unseen "$U" --oracle --proposals maskformer --proposals-model runs/voc15-small/model.pt
}

camvid() {
  local U="tree, car, bicyclist" V=(--dataset camvid --root "$D/camvid" --split val)
  for c in camvid8_small camvid8_per_pixel_small; do [ -f "runs/${c//_/-}/model.pt" ] || zsseg train --config "configs/$c.json"; done
  [ -f runs/coop-camvid8-conse.pt ] || zsseg learn-prompts --dataset camvid --root "$D/camvid" --unseen "$U" --out runs/coop-camvid8-conse.pt
  run camvid8-graph            "${V[@]}" --unseen "$U"
  run camvid8-graph-coop       "${V[@]}" --unseen "$U" --templates learned:runs/coop-camvid8-conse.pt
  run camvid8-maskformer       "${V[@]}" --unseen "$U" --proposals maskformer --proposals-model runs/camvid8-small/model.pt
  run camvid8-maskformer-coop  "${V[@]}" --unseen "$U" --proposals maskformer --proposals-model runs/camvid8-small/model.pt --templates learned:runs/coop-camvid8-conse.pt
  run camvid8-per-pixel        "${V[@]}" --unseen "$U" --per-pixel-model runs/camvid8-per-pixel-small/model.pt
  for p in graph slic; do run camvid8-oracle-$p "${V[@]}" --unseen "$U" --oracle --proposals $p; done
  run camvid8-oracle-maskformer "${V[@]}" --unseen "$U" --oracle --proposals maskformer --proposals-model runs/camvid8-small/model.pt
}

for d in ${@:-voc camvid}; do $d; done
