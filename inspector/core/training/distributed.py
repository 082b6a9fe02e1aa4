"""The same run under ``torchrun --nproc_per_node N``: one process group, one data shard per rank.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; with them the loop wraps the model in
``DistributedDataParallel`` (gloo on the CPU, nccl on CUDA, each rank on ``cuda:LOCAL_RANK``), draws its batches
through a ``DistributedSampler``, and only rank 0 writes logs and the checkpoint. Without them nothing changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return World()
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def init_world(world: World, device):
    """Start the process group (once) and give the device this rank trains on."""
    import torch
    import torch.distributed as dist

    if not world.distributed:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(module, world: World, device):
    if not world.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()


def finish(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def sync_buffers(module, world: World) -> None:
    """Rank 0's buffers (BatchNorm statistics) to every rank: DDP broadcasts them before each forward, so the
    last batch's update would otherwise leave the ranks a step apart."""
    if not world.distributed:
        return
    import torch.distributed as dist

    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=0)
