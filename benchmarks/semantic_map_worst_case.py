"""The semantic map's worst case: noise-like masks (every working pixel borders another label) and
nearly uniform probabilities over 847 classes, resized to 12 MP. Prints seconds and peak RSS.

    python benchmarks/semantic_map_worst_case.py
"""

from __future__ import annotations

import json
import resource
import time

import torch

from zsseg.ensemble import semantic_map


def main() -> None:
    torch.manual_seed(0)
    masks = (torch.rand(50, 384, 512) > 0.5).float()
    probs = (torch.ones(50, 847) + 1e-2 * torch.rand(50, 847)).softmax(1)
    t = time.perf_counter()
    semantic_map(probs, masks, (3000, 4000))
    print(
        json.dumps(
            {
                "masks": 50,
                "classes": 847,
                "working": [384, 512],
                "output": [3000, 4000],
                "seconds": round(time.perf_counter() - t, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
