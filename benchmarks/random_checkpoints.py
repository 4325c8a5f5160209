"""Write randomly initialised checkpoints of real architectures to a folder, so that `zsseg bench`
can measure their cost here (no weights can be downloaded on this machine; cost is the
architecture's, and the masks they produce mean nothing).

    python benchmarks/random_checkpoints.py /tmp/zsseg-random
    -> /tmp/zsseg-random/sam-vit-base, /tmp/zsseg-random/mask2former-swin-tiny
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import (
    Mask2FormerConfig,
    Mask2FormerForUniversalSegmentation,
    SamConfig,
    SamImageProcessorPil,
    SamModel,
)


def main(root: str) -> None:
    torch.manual_seed(0)
    out = Path(root)
    SamModel(SamConfig()).save_pretrained(out / "sam-vit-base")  # facebook/sam-vit-base architecture
    SamImageProcessorPil().save_pretrained(out / "sam-vit-base")
    labels = {i: f"class{i}" for i in range(133)}  # COCO panoptic has 133 labels
    Mask2FormerForUniversalSegmentation(
        Mask2FormerConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
    ).save_pretrained(out / "mask2former-swin-tiny")
    print(f"wrote {out / 'sam-vit-base'} and {out / 'mask2former-swin-tiny'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/zsseg-random")
