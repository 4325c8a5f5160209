"""Sharding and reduction under ``torchrun`` (PyTorch's own distributed stack): evaluation, training and collections."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist

from .errors import ZsegError


@contextlib.contextmanager
def process_group(backend: str = "gloo") -> Iterator[None]:
    """Under torchrun (WORLD_SIZE > 1), this process's membership of the process group for the
    duration; a no-op otherwise. The command line's commands enter it, once; library functions
    only read it (``rank_and_world``). gloo suffices for evaluation and collections, which reduce
    small count arrays (training on CUDA passes nccl)."""
    started = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized()
    if started:
        dist.init_process_group(backend)
    try:
        yield
    finally:
        if started and dist.is_initialized():
            dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the process group, (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ZsegError(
            "running under torchrun outside its process group: wrap the call in "
            "`with zsseg.distributed.process_group():` (the zsseg command does this itself)"
        )
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


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent(worker_id: int = 0) -> None:
    """A DataLoader ``worker_init_fn``: the worker is sent SIGKILL when the process that started it
    dies, however it dies (the loader's own shutdown needs a parent alive to run it; a ``kill -9``d
    collection would leave its workers holding their memory, re-parented to init). Linux only."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call above: nobody will send it
        os._exit(1)
