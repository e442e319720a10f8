"""Data-parallel training on PyTorch's distributed engine (``torchrun``).

``torchrun --nproc-per-node N -m aekit train …`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``;
the trainer then joins the process group (NCCL on GPUs, gloo on CPUs), starts every rank
from rank 0's weights, gives each rank its share of every global batch, and averages the
gradients across ranks after each backward pass — the semantics of
``DistributedDataParallel`` — before every optimizer step. Gradients are reduced per
optimizer step, not inside ``forward``, so families with several optimizers and several
backward passes per step (the adversarial AE) work unchanged, which the DDP wrapper's
one-backward-per-forward reducer does not allow.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable

import torch
import torch.distributed as dist


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: torch.device) -> tuple[int, int]:
    """Join the process group when launched by torchrun; (rank, world_size)."""
    world = env_world_size()
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        if backend == "gloo":
            # a gloo group left to interpreter shutdown can abort the process there (SIGABRT,
            # "terminate called without an active exception", seen once in 2-rank CPU runs):
            # its worker threads still hold tensors. Leave it while Python is fully alive.
            atexit.register(_destroy)
    return dist.get_rank(), dist.get_world_size()


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun each process takes the GPU of its LOCAL_RANK."""
    if device.type == "cuda" and env_world_size() > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return device


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Every rank starts from rank 0's parameters and buffers."""
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Rank 0's buffers (EMA codebooks, code counts …) to every rank, as
    ``DistributedDataParallel(broadcast_buffers=True)`` does before each forward."""
    with torch.no_grad():
        for b in module.buffers():
            dist.broadcast(b.data, src=0)


def average_gradients(params: Iterable[torch.nn.Parameter], world: int) -> None:
    """All-reduce the gradients as one flat buffer and divide by the world size."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def sum_across(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sum a dict of scalar tensors over all ranks (same keys on every rank)."""
    keys = sorted(values)
    flat = torch.stack([values[k].float() for k in keys])
    dist.all_reduce(flat)
    return dict(zip(keys, flat.unbind()))


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
