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
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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


def local_device(device: torch.device) -> torch.device:
    """Under torchrun with GPUs, each process takes the GPU of its LOCAL_RANK ("cuda" -> "cuda:1")."""
    if device.type == "cuda" and device.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks in place (no-op in a world of one); returns the tensor."""
    if dist.is_available() and dist.is_initialized():
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
