#!/usr/bin/env bash
# The README's speed table, one row per command, run one after another on an idle machine.
set -euo pipefail
D=${SHARED:-../shared}
IMG=$D/data/voc2012/val/images
OUT=results/speed; mkdir -p $OUT
python benchmarks/random_checkpoints.py /tmp/zsseg-random >/dev/null
python benchmarks/encoder_batch_size.py --bpe $D/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz > $OUT/encoder_batch_size.json
b() { name=$1; shift; echo "== $name"; zsseg bench "$@" --out $OUT/$name.json > /dev/null || { echo "FAILED $name"; return; }; python -c "import json,sys; r=json.load(open('$OUT/$name.json')); print(json.dumps({k: r[k] for k in r if k not in ('settings',)}))"; }

b conse-default-vs-naive      $IMG --vocab voc21 --limit 5 --naive
b conse-dense                 $IMG --vocab voc21 --limit 5 --crop dense
b conse-masked-vs-naive       $IMG --vocab voc21 --limit 3 --naive --crop masked
b clipb16-masked-vs-naive     $IMG --vocab voc21 --limit 2 --naive --model clip-vit-b16 --bpe $D/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz
b clipb16-dense               $IMG --vocab voc21 --limit 3 --model clip-vit-b16 --crop dense --bpe $D/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz
b clipl14-masked              $IMG --vocab voc21 --limit 1 --model clip-vit-l14 --bpe $D/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz
b clipb16-text847x80          $IMG --classes-file benchmarks/names847.txt --templates imagenet80 --limit 1 --model clip-vit-b16 --proposals whole --bpe $D/models/clip_tokenizer/bpe_simple_vocab_16e6.txt.gz
b sam-vitb-proposals          $IMG --vocab voc21 --limit 2 --proposals sam --proposals-model /tmp/zsseg-random/sam-vit-base
b mask2former-swint-proposals $IMG --vocab voc21 --limit 3 --proposals mask2former --proposals-model /tmp/zsseg-random/mask2former-swin-tiny
python -c "from PIL import Image; Image.open('$IMG/2007_000042.jpg').resize((4000, 3000), Image.BICUBIC).save('/tmp/zsseg-4000x3000.jpg', quality=92)"
b conse-4000x3000-847classes  /tmp/zsseg-4000x3000.jpg --classes-file benchmarks/names847.txt --limit 1
