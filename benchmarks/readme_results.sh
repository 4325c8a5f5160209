#!/usr/bin/env bash
# Reproduces every row of the README's results tables (offline default, 2 CPU cores).
# Writes results/<row>/{metrics.json,report.md,per_class_iou.png}. Run sequentially: rows report time.
set -euo pipefail
D=${SHARED:-../shared}/data
run() { name=$1; shift; echo "== $name"; zsseg eval "$@" --out "results/$name" --quiet; }

run voc21-val112-conse      --dataset voc21 --root "$D/voc2012" --split val
run voc21-val112-conse-bg06 --dataset voc21 --root "$D/voc2012" --split val --background-threshold 0.6
run voc20-val112-conse      --dataset voc20 --root "$D/voc2012" --split val
run camvid-val101-conse     --dataset camvid --root "$D/camvid" --split val
run ade150-val3-conse       --dataset ade150 --root "$D/ade20k" --split val
run cocostuff171-val10-conse --dataset coco_stuff171 --root "$D/coco_stuff" --split val

for p in graph slic; do
  run voc21-val112-oracle-$p        --dataset voc21 --root "$D/voc2012" --split val --oracle --proposals $p
  run camvid-val101-oracle-$p       --dataset camvid --root "$D/camvid" --split val --oracle --proposals $p
  run ade150-val3-oracle-$p         --dataset ade150 --root "$D/ade20k" --split val --oracle --proposals $p
  run cocostuff171-val10-oracle-$p  --dataset coco_stuff171 --root "$D/coco_stuff" --split val --oracle --proposals $p
done
