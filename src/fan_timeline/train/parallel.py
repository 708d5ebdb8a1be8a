"""Data parallelism under torchrun, and the device and cores a run gets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from fan_timeline.config import TrainConfig


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel run; rank 0 of 1 when not launched by torchrun.

    Every process plans the same run; in each optimizer step process `rank` runs the micro-batches
    `rank, rank + world, ...` of the step and the LoRA gradients are summed across processes, so a
    step is the same global batch, and the same update, for any number of processes.
    """

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: list[float], device: Any) -> list[float]:
        import torch
        import torch.distributed as td

        t = torch.tensor(values, dtype=torch.float64, device=device)
        td.all_reduce(t)
        return t.tolist()

    def sum_grads(self, params: list) -> None:
        """Sum the gradients of `params` across processes, in one all-reduce (LoRA grads are small)."""
        import torch
        import torch.distributed as td
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = _flatten_dense_tensors(grads)
        td.all_reduce(flat)
        for p, g in zip(params, _unflatten_dense_tensors(flat, grads), strict=True):
            if p.grad is None:
                p.grad = g
            else:
                p.grad.copy_(g)

    def broadcast(self, value: Any) -> Any:
        import torch.distributed as td

        box = [value]
        td.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        import torch.distributed as td

        out: list[Any] = [None] * self.world
        td.all_gather_object(out, value)
        return out


def resolve_device(device: str = "auto"):
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def physical_cores() -> int:
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        cores = None
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores or available, available))


def resolve_nproc(cfg: TrainConfig, device: str = "auto") -> int:
    """The processes a run of `cfg` starts: `cfg.nproc`, or for 0 (auto) one per GPU on CUDA or
    per physical core (`threads` if set) on CPU, at most `grad_accum`: each process runs whole
    micro-batches of a step, so one more would idle."""
    import torch

    if cfg.nproc:
        return cfg.nproc
    if resolve_device(device).type == "cuda":
        units = torch.cuda.device_count()
    else:
        units = cfg.threads or physical_cores()
    return max(1, min(units, cfg.grad_accum))


def init_data_parallel(cfg: TrainConfig, device: str = "auto") -> tuple[DataParallel, Any]:
    """(this process's DataParallel, its device): joins torchrun's process group when WORLD_SIZE > 1.

    CUDA: one GPU per process (NCCL). CPU: gloo, and this process gets its share of the cores
    (`threads`, 0 = physical cores, split between the processes). `nproc: 0` (auto) takes the
    processes the launcher started: one when there is none (the stage script launches
    `resolve_nproc`).
    """
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if cfg.nproc and world != cfg.nproc:
        if world == 1:
            raise ValueError(f"train_qlora.nproc={cfg.nproc} runs under torchrun: start stages/train_qlora.py, "
                             f"which launches it, or torchrun --nproc-per-node {cfg.nproc} stages/train_qlora.py ...")
        raise ValueError(f"launched with WORLD_SIZE={world} processes but train_qlora.nproc={cfg.nproc}")
    dev = resolve_device(device)
    if dev.type == "cpu":
        torch.set_num_threads(max(1, (cfg.threads or physical_cores()) // world))
    if world == 1:
        return DataParallel(), dev
    import torch.distributed as td

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"train_qlora.nproc={world} but this machine has {torch.cuda.device_count()} GPU(s)")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not td.is_initialized():
        td.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                              device_id=dev if dev.type == "cuda" else None)
    return DataParallel(rank, world), dev


def own_dropout_stream(cfg: TrainConfig, dist: DataParallel) -> None:
    """Reseed after `build_model`, which seeds the LoRA init alike in every process, so that each
    process draws its own dropout masks (process 0 keeps the single-process stream)."""
    import torch

    if dist.rank:
        torch.manual_seed(cfg.seed + 1_000_003 * dist.rank)


def rng_state(device: Any) -> dict[str, Any]:
    import torch

    state = {"torch": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state
