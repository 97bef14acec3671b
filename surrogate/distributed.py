"""Multi-process training under ``torchrun`` (DistributedDataParallel), and nothing otherwise.

``torchrun --nproc_per_node N -m phenograd train ...`` starts N copies of the command with
WORLD_SIZE, RANK and LOCAL_RANK in their environment. :func:`init` sees them and joins the
process group: gloo on CPU, NCCL when the device is CUDA (each process then uses GPU
LOCAL_RANK). Without those variables (a plain ``phenograd train``, the Python API) every
function here is a no-op for a world of size 1, so single-process training is unchanged.

Helpers: :func:`rank`, :func:`world_size`, :func:`is_main` (rank 0: the one that writes
files and shows progress), :func:`barrier`, :func:`all_reduce_sum` / :func:`all_reduce_mean`
for a few scalars, :func:`shard` (a DistributedSampler's split of an epoch's item order),
:func:`wrap` (DDP around a model) and :func:`cleanup`.
"""

from __future__ import annotations

import atexit
import inspect
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist


def launched() -> bool:
    """True in a process started by torchrun (or another launcher that sets WORLD_SIZE and RANK)
    for a world of more than one process."""
    try:
        return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def active() -> bool:
    """True once this process has joined a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the process that writes files and prints."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def init(device: str | torch.device | None = None) -> torch.device:
    """Join torchrun's process group (once; later calls only return the device) and return the
    device this process trains on: `device`, else CUDA when present, else CPU; under torchrun a
    CUDA device becomes cuda:LOCAL_RANK and the backend NCCL, a CPU one uses gloo. Not launched
    by torchrun: no process group, the device as requested."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if not launched():
        return dev
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank())
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
            dist.init_process_group("nccl", device_id=dev)
        else:
            dist.init_process_group("gloo")
        atexit.register(cleanup)
    return dev


def cleanup() -> None:
    """Leave the process group (no-op when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if not active():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums over every rank of a few numbers (float64); the same list on every rank."""
    if not active():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def all_reduce_mean(value: float) -> float:
    """Mean of a scalar (a loss) over every rank; the same number on every rank."""
    if not active():
        return float(value)
    return all_reduce_sum([value])[0] / world_size()


def shard(order: np.ndarray, rank_: int | None = None, world: int | None = None) -> np.ndarray:
    """This rank's share of an epoch's item order, as torch's DistributedSampler splits it: the
    order is padded by repeating its start to a multiple of the world size, and rank r takes
    items r, r + world, r + 2 world, ... so every rank gets the same number of items (and
    batches: collective calls stay in step). World of 1: the order itself."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if world == 1:
        return order
    total = -(-len(order) // world) * world
    return np.resize(order, total)[rank_:total:world]  # np.resize repeats the order cyclically


class _Synced:
    """A DDP-wrapped model as the tasks' loss functions use it: calling it runs DDP's forward
    (gradients are averaged over ranks in backward); attributes (model.head, ...) are those of
    the wrapped module."""

    def __init__(self, ddp: torch.nn.parallel.DistributedDataParallel):
        self.ddp = ddp

    def __call__(self, *args, **kwargs):
        return self.ddp(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.ddp.module, name)


def wrap(model: torch.nn.Module, find_unused_parameters: bool = False):
    """`model` in DistributedDataParallel when distributed (the model itself otherwise). DDP
    broadcasts rank 0's weights at construction and averages gradients in backward. Buffers
    (target normalisations) are fixed during training, so they are not re-broadcast per step."""
    if not active():
        return model
    DDP = torch.nn.parallel.DistributedDataParallel
    # Newer torch renamed broadcast_buffers (per-forward buffer sync) to forward_sync_buffers.
    no_sync = (
        "forward_sync_buffers"
        if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
        else "broadcast_buffers"
    )
    ddp = DDP(model, find_unused_parameters=find_unused_parameters, **{no_sync: False})
    return _Synced(ddp)
