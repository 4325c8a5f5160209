"""Sharding and reduction under ``torchrun`` (PyTorch's own distributed stack): evaluation, training and collections."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist


def init_from_env(backend: str = "gloo") -> tuple[int, int]:
    """(rank, world size). Under torchrun (WORLD_SIZE > 1) joins the process group; gloo suffices
    for evaluation, which reduces only small count arrays (training on CUDA passes nccl)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def local_device(device: str) -> str:
    """Under torchrun, plain "cuda" means this process's GPU (cuda:LOCAL_RANK)."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{os.environ['LOCAL_RANK']}"
    return device


def all_sum(array: np.ndarray) -> np.ndarray:
    """Element-wise sum over all processes (identity when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return array
    t = torch.from_numpy(np.ascontiguousarray(array))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.numpy()


def barrier() -> None:
    """Wait for every process (a no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
