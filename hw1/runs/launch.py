"""Runs whose ranks a launcher started all at once (torchrun on each node, or srun): they agree on one result folder
through a process group joined before the Trainer exists, which Lightning then reuses."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist
from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment, TorchElasticEnvironment
from lightning.fabric.utilities.rank_zero import rank_zero_only

T = TypeVar("T")


def global_rank() -> int:
    """This process's global rank as Lightning's rank-zero utilities know it (0 outside distributed runs)."""
    return int(getattr(rank_zero_only, "rank", 0))


def launch_environment() -> ClusterEnvironment | None:
    """The cluster environment when torchrun or srun started more than one rank of this run at once, else None (one
    process, or ranks that Lightning starts itself after rank 0 has begun)."""
    for kind in (TorchElasticEnvironment, SLURMEnvironment):
        if kind.detect() and kind().world_size() > 1:
            return kind()
    return None


def on_gpu(accelerator: str | None) -> bool:
    """Whether `--accelerator` computes on a CUDA GPU here (any choice but cpu, None included, when one is visible)."""
    return accelerator != "cpu" and torch.cuda.is_available()


def join_launch_group(environment: ClusterEnvironment, accelerator: str) -> None:
    """Join the run's default process group (NCCL on GPUs, gloo on CPUs), as Lightning's DDP would."""
    if dist.is_initialized():
        return
    os.environ["MASTER_ADDR"] = environment.main_address
    os.environ["MASTER_PORT"] = str(environment.main_port)
    gpu = on_gpu(accelerator)
    if gpu:
        torch.cuda.set_device(environment.local_rank())
    dist.init_process_group("nccl" if gpu else "gloo", rank=environment.global_rank(),
                            world_size=environment.world_size())  # fmt: skip


def decided_by_rank_zero(decide: Callable[[], T], accelerator: str) -> T | None:
    """`decide()` run on global rank 0 and its answer given to every rank started with it; None when this process
    was not started by such a launcher (the caller decides for itself)."""
    environment = launch_environment()
    if environment is None:
        return None
    join_launch_group(environment, accelerator)
    answer = [decide() if environment.global_rank() == 0 else None]
    dist.broadcast_object_list(answer, src=0)
    return answer[0]
