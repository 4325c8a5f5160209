#!/usr/bin/env bash
# Everything that needs a GPU, in one run (what results/speed-cuda and results/train/cuda hold):
# training steps on CUDA, the DistributedDataParallel path under torchrun, and the speed suite.
#   SHARED=../shared MASKFORMER=runs/voc15-small-base/model.pt bash benchmarks/gpu_check.sh
# TRAIN_CONFIG: a training config whose data is present (default configs/voc15_small_base.json).
set -euo pipefail
OUT=${OUT:-results/speed-cuda}
CFG=${TRAIN_CONFIG:-configs/voc15_small_base.json}
RUN=$(mktemp -d)
python - "$CFG" "$RUN/config.json" "$RUN/out" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["output"] = sys.argv[3]
json.dump(cfg, open(sys.argv[2], "w"))
PY
mkdir -p results/train/cuda
NAME=$(basename $CFG .json)
python -m zsseg train --config $RUN/config.json --device cuda --iterations 200 --no-resume --quiet
cp $RUN/out/losses.csv results/train/cuda/$NAME-200it-losses.csv && tail -1 results/train/cuda/$NAME-200it-losses.csv
python -m torch.distributed.run --standalone --nproc_per_node=1 -m zsseg train --config $RUN/config.json --device cuda --iterations 40 --no-resume --quiet
cp $RUN/out/losses.csv results/train/cuda/$NAME-torchrun-40it-losses.csv && tail -1 results/train/cuda/$NAME-torchrun-40it-losses.csv
DEVICE=cuda OUT=$OUT LIMIT=${LIMIT:-5} bash benchmarks/speed_suite.sh
