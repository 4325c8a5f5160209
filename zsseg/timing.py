"""Stage timings: ``Stopwatch`` adds the seconds spent in each named stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def clock(device: torch.device | str = "cpu") -> float:
    """perf_counter once the device's queued work is done (CUDA kernels run asynchronously)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class Stopwatch:
    """``with watch("encoder"): ...`` adds the block's seconds to ``watch.timings["encoder"]``."""

    def __init__(self, device: torch.device | str = "cpu", timings: dict[str, float] | None = None) -> None:
        self.device = device
        self.timings: dict[str, float] = timings if timings is not None else {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = clock(self.device)
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + clock(self.device) - start

    def total(self) -> dict[str, float]:
        """The timings with their sum as "total" (an earlier "total" among them is replaced)."""
        return {**self.timings, "total": sum(v for k, v in self.timings.items() if k != "total")}
