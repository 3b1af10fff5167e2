"""`predict`, `apply` and `evaluate` across processes and machines, as launched by torchrun:

    torchrun --nproc_per_node 2 -m pixelseg predict --checkpoint best.pt photos/ --out masks/ --threads 1

Every process (rank) runs the whole command on its own share of the inputs: the inputs sorted by
path, every world_size-th one from position rank (engine.distributed.DistInfo.shard), so the shares
are disjoint, together hold every input once, and do not depend on timing. Each rank writes its own
outputs, under the names one process would give them; rank 0 prints the summary. The process group
is the trainer's (engine.distributed): gloo between CPU processes, NCCL between GPUs.

With --skip-existing, rank 0 looks at the outputs once (inference.atomic.unfinished) and every rank
takes its share of what is left, so a rerun after a crash, or on more processes, spreads the rest
evenly. That needs --out on a file system every machine sees (one machine: always).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import torch

from pixelseg.engine import distributed
from pixelseg.engine.distributed import DistInfo
from pixelseg.inference.atomic import unfinished
from pixelseg.runtime.device import resolve_device


@contextlib.contextmanager
def joined(device_name: str) -> Iterator[tuple[DistInfo, torch.device | str]]:
    """(this process's place in the world, the device its predictor is to use) for a command's run.
    Under torchrun the process group is joined and each process takes the GPU of its local rank
    ("cuda" -> "cuda:1"); in a world of one the name stays as given ("auto" lets ONNX Runtime choose
    the CPU on a machine with a GPU)."""
    device = distributed.local_device(resolve_device(device_name))
    with distributed.process_group(device) as world:
        yield world, (device if world.enabled else device_name)


def share(planned: Mapping[Path, Iterable[Path]], world: DistInfo, skip_existing: bool = False) -> list[Path]:
    """This rank's inputs of `planned` (input -> its outputs), sorted by path.

    skip_existing: leave out the inputs whose outputs are all whole already; rank 0 decides and the
    others take its answer (a collective: every rank calls this), so no rank sees another's first
    outputs and counts differently.
    """
    inputs = sorted(planned, key=str)
    if skip_existing:
        wanted = None  # positions in `inputs`: fewer bytes to broadcast than the paths
        if world.is_main:
            left = set(unfinished(planned))
            wanted = [i for i, path in enumerate(inputs) if path in left]
        inputs = [inputs[i] for i in distributed.broadcast_object(wanted)]
    return world.shard(inputs)


def progress_label(name: str, world: DistInfo) -> str:
    """A progress bar's name: "predict", or "predict rank 1/4" under torchrun (one bar per rank)."""
    return f"{name} rank {world.rank}/{world.world_size}" if world.enabled else name


@dataclass(frozen=True)
class Tally:
    """What every rank did, summed: inputs done, the ones that failed (sorted), and the slowest rank's seconds."""
    done: int
    failed: list[Path]
    seconds: float
    processes: int

    def rate_line(self, unit: str = "images") -> str:
        """`40 images in 2.1 s: 19.0 images/s (2 processes)`: the run's throughput over all ranks."""
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        processes = f" ({self.processes} process{'es' * (self.processes != 1)})"
        return f"{self.done} {unit} in {self.seconds:.1f} s: {rate:.1f} {unit}/s{processes}"


class Stopwatch:
    """The run's clock, started together on every rank (a barrier) once the model is loaded."""

    def __init__(self, world: DistInfo):
        self.world = world
        distributed.barrier()
        self.started = time.perf_counter()

    def tally(self, done: int, failed: Iterable[Path] = ()) -> Tally:
        """Every rank's count and failures, gathered (a collective: every rank calls this, and all get the Tally)."""
        mine = (done, [Path(p) for p in failed], time.perf_counter() - self.started)
        everyone = distributed.all_gather_objects(mine)
        return Tally(sum(d for d, _, _ in everyone), sorted((p for _, f, _ in everyone for p in f), key=str),
                     max(s for _, _, s in everyone), self.world.world_size)
