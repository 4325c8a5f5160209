#!/usr/bin/env bash
# Reproduces the README's "The default, against the old default" table on the dev subsets of
# ../shared (2 CPU cores): every dataset with the shipped default and with `--proposals graph`
# (the old default), plus the stage-1 oracle of each generator. Writes results/<row>/ with
# metrics.json, report.md, per_class_iou.png and the predicted label maps; then the shape figures
# (benchmarks/segmentation_shape.py). Rows run one after another: each reports its time.
set -euo pipefail
D=${SHARED:-../shared}/data
run() { name=$1; shift; echo "== $name"; zsseg eval "$@" --out "results/$name" --save-predictions --quiet; }
declare -A DATA=(
  [voc21-val112]="--dataset voc21 --root $D/voc2012 --split val"
  [voc20-val112]="--dataset voc20 --root $D/voc2012 --split val"
  [camvid-val101]="--dataset camvid --root $D/camvid --split val"
  [ade150-val3]="--dataset ade150 --root $D/ade20k --split val"
  [cocostuff171-val10]="--dataset coco_stuff171 --root $D/coco_stuff --split val"
)
for row in voc21-val112 voc20-val112 camvid-val101 ade150-val3 cocostuff171-val10; do
  run "$row-default" ${DATA[$row]}
  run "$row-conse" ${DATA[$row]} --proposals graph
done
for row in voc21-val112 camvid-val101 ade150-val3 cocostuff171-val10; do
  for p in maskformer graph slic; do run "$row-oracle-$p" ${DATA[$row]} --oracle --proposals $p; done
done
for row in voc21-val112 camvid-val101; do
  python benchmarks/segmentation_shape.py "results/$row-default" "results/$row-conse"
done
