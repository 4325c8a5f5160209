#!/usr/bin/env bash
# The collection targets on a GPU (docs/speed.md "Collections"), in one run of ~5 minutes:
# 1. throughput: the shipped network + CLIP ViT-B/16 image tower (random weights: the cost is the
#    architecture's) on masked crops at 512 px, by image batch, fp32 and bf16;
# 2. agreement with real weights: the shipped default (network + ConSE), image batches and bf16
#    against the one-image fp32 path.
#   SHARED=../shared bash benchmarks/gpu_collection.sh
set -euo pipefail
SHARED=${SHARED:-../shared}
OUT=${OUT:-results/speed-cuda}
VOC=$SHARED/data/voc2012/val/images
CAMVID=$SHARED/data/camvid/val/images
mkdir -p $OUT
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee $OUT/collection-gpu.txt
python benchmarks/collection_throughput.py $VOC $CAMVID --vocab voc21 --limit ${LIMIT:-112} --device cuda \
  --model clip-vit-b16 --bpe $SHARED/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz --short-side 512 \
  --image-batch 1,8,16,32 --dtype fp32,bf16 --batch-size 256 --workers ${WORKERS:-8} \
  --out $OUT/collection-clip-b16-masked.json
python benchmarks/collection_throughput.py $VOC $CAMVID --vocab voc21 --limit ${LIMIT:-112} --device cuda \
  --image-batch 1,8,16 --dtype fp32,bf16 --workers ${WORKERS:-8} --out $OUT/collection-default.json
