"""Sharding and reduction for evaluation under ``torchrun`` (PyTorch's own distributed stack)."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist


def init_from_env() -> tuple[int, int]:
    """(rank, world size). Under torchrun (WORLD_SIZE > 1) joins the gloo process group; gloo
    suffices because only small count arrays are reduced."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_sum(array: np.ndarray) -> np.ndarray:
    """Element-wise sum over all processes (identity when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return array
    t = torch.from_numpy(np.ascontiguousarray(array))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.numpy()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
