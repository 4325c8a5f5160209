#!/usr/bin/env bash
# The README's speed tables, one row per command, run one after another on an idle machine.
#   bash benchmarks/speed_suite.sh                                   # CPU rows -> results/speed/
#   DEVICE=cuda OUT=results/speed-cuda LIMIT=10 bash benchmarks/speed_suite.sh
# SHARED: the ../shared folder (images, CLIP BPE); MASKFORMER: a model.pt of `zsseg train`, for the
# rows with the trained proposal network (skipped when unset); LIMIT: images per row (default: per row);
# ONLY: a regular expression, run only the rows whose names match it.
set -euo pipefail
D=${SHARED:-../shared}
IMG=$D/data/voc2012/val/images
BPE=$D/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz
DEV=${DEVICE:-cpu}
OUT=${OUT:-results/speed}; mkdir -p $OUT
n() { echo "${LIMIT:-$1}"; }
b() { name=$1; shift; [[ $name =~ ${ONLY:-.} ]] || return 0; echo "== $name"; zsseg bench "$@" --device $DEV --out $OUT/$name.json > /dev/null || { echo "FAILED $name"; return 0; }; python -c "import json,sys; r=json.load(open('$OUT/$name.json')); print(json.dumps({k: r[k] for k in r if k not in ('settings',)}))"; }

if [ -n "${ONLY:-}" ]; then :
elif [ "$DEV" = cpu ]; then
  python benchmarks/encoder_batch_size.py --bpe $BPE > $OUT/encoder_batch_size.json
else
  python benchmarks/encoder_batch_size.py --bpe $BPE --device $DEV --batches 1,8,32,64,128,256 --crops 256 > $OUT/encoder_batch_size.json
fi
b conse-default-vs-naive      $IMG --vocab voc21 --limit $(n 10) --naive
b conse-dense                 $IMG --vocab voc21 --limit $(n 5) --crop dense
b conse-masked-vs-naive       $IMG --vocab voc21 --limit $(n 3) --naive --crop masked
b clipb16-masked-vs-naive     $IMG --vocab voc21 --limit $(n 2) --naive --model clip-vit-b16 --bpe $BPE
b clipb16-dense               $IMG --vocab voc21 --limit $(n 3) --model clip-vit-b16 --crop dense --bpe $BPE
if [ "$DEV" != cpu ]; then  # no native bf16 on the CPU here (6.3x slower, see the README)
  b clipb16-masked-bf16-vs-naive $IMG --vocab voc21 --limit $(n 2) --naive --dtype bf16 --model clip-vit-b16 --bpe $BPE
  b conse-default-bf16-vs-naive  $IMG --vocab voc21 --limit $(n 5) --naive --dtype bf16
fi
if [ -n "${MASKFORMER:-}" ]; then  # the paper's pairing: trained proposal network + CLIP masked crops
  b maskformer-conse-masked-vs-naive   $IMG --vocab voc21 --limit $(n 8) --naive --crop masked --proposals maskformer --proposals-model $MASKFORMER
  b maskformer-clipb16-masked-vs-naive $IMG --vocab voc21 --limit $(n 2) --naive --model clip-vit-b16 --bpe $BPE --proposals maskformer --proposals-model $MASKFORMER
  b maskformer-clipb16-dense           $IMG --vocab voc21 --limit $(n 3) --model clip-vit-b16 --crop dense --bpe $BPE --proposals maskformer --proposals-model $MASKFORMER
fi
b clipl14-masked              $IMG --vocab voc21 --limit $(n 1) --model clip-vit-l14 --bpe $BPE
b clipb16-text847x80          $IMG --classes-file benchmarks/names847.txt --templates imagenet80 --limit 1 --model clip-vit-b16 --proposals whole --bpe $BPE
python -c "from PIL import Image; Image.open('$IMG/2007_000042.jpg').resize((4000, 3000), Image.BICUBIC).save('/tmp/zsseg-4000x3000.jpg', quality=92)"
b conse-4000x3000-847classes  /tmp/zsseg-4000x3000.jpg --classes-file benchmarks/names847.txt --limit 1
if ! [[ sam-vitb-proposals =~ ${ONLY:-.} || mask2former-swint-proposals =~ ${ONLY:-.} ]]; then :
elif python benchmarks/random_checkpoints.py /tmp/zsseg-random >/dev/null; then
  b sam-vitb-proposals          $IMG --vocab voc21 --limit $(n 2) --proposals sam --proposals-model /tmp/zsseg-random/sam-vit-base
  b mask2former-swint-proposals $IMG --vocab voc21 --limit $(n 3) --proposals mask2former --proposals-model /tmp/zsseg-random/mask2former-swin-tiny
else
  echo "FAILED random_checkpoints.py (SAM / Mask2Former rows skipped)"
fi
