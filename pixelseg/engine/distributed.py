"""Distributed data parallel, as launched by torchrun:

    torchrun --nproc_per_node 2 -m pixelseg train --data DATA --out RUN ...

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT for each process; `setup()`
reads them (a plain `pixelseg train` has none, and runs as a world of one). Backend: nccl when the
processes drive GPUs, gloo on CPU.

What changes under DDP (see engine/trainer.py):
  - each rank reads its own shard of the training split (DistributedSampler; per-rank batch =
    --batch-size, so the global batch is world_size × batch size);
  - gradients are averaged across ranks in backward (DistributedDataParallel), so every rank takes
    the same optimizer step and the weights stay identical;
  - validation is sharded too, and the confusion matrices are summed across ranks before any score
    is computed (a mean of per-rank mIoUs would be wrong, as a mean of per-batch ones is);
  - only rank 0 writes files and prints.

`predict`, `apply` and `evaluate` join the same process group (inference/shards.py), each rank
working on its own share of the inputs.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of `items`: every world_size-th one from position `rank`. The shares of
        all ranks are disjoint and together are `items`, each exactly once (no padding with repeats,
        unlike DistributedSampler), so sums over ranks count every item once."""
        return list(items[self.rank :: self.world_size])


def setup(device: torch.device) -> DistInfo:
    """Join the process group torchrun describes in the environment; a world of one without it."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world_size)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[DistInfo]:
    """`setup(device)` for the block; the group is left after it, unless it was joined before the
    block began (by a caller that keeps using it, such as a test)."""
    owns_group = not (dist.is_available() and dist.is_initialized())
    world = setup(device)
    try:
        yield world
    finally:
        if owns_group:
            cleanup()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun with GPUs, each process takes the GPU of its LOCAL_RANK ("cuda" -> "cuda:1")."""
    if device.type == "cuda" and device.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks in place (no-op in a world of one); returns the tensor. NCCL reduces GPU tensors
    only, so a CPU tensor (inference's confusion matrix) takes a round trip through this rank's GPU."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "nccl" and tensor.device.type != "cuda":
            on_gpu = tensor.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
            tensor.copy_(on_gpu)
        else:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank; [obj] in a world of one."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj, src: int = 0):
    """rank `src`'s obj on every rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
