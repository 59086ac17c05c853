"""Where this process stands among the others: torchrun's environment, plain srun's, or none (one process).

torchrun (and any env:// launcher) sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. `srun` with one
task per process sets SLURM_PROCID, SLURM_NTASKS and SLURM_LOCALID; the batch script exports MASTER_ADDR and
MASTER_PORT (the first host of the job and a port derived from the job id). NCCL on GPUs, gloo on CPUs.

Gradients are summed with all_reduce once per optimizer step, after the local micro-batches: every micro-batch's loss
is already divided by the labelled-token count of the whole global batch, so the sum over ranks is the gradient of
the global batch's mean loss, exactly what one process accumulating every micro-batch gets. (DistributedDataParallel
computes this sum too, overlapped with the backward; it is not used because a step's last slice can leave ranks with
unequal numbers of micro-batches, which its hooks cannot take, and because it would broadcast the whole frozen base at
start. LoRA gradients are a few MB: one bucketed all-reduce per step costs little next to the step.)
"""
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import TrainerError

BUCKET_ELEMENTS = 1 << 24  # 64 MiB of f32 per all-reduce


@dataclass
class World:
    rank: int
    size: int
    local_rank: int
    launcher: str  # 'single', 'torchrun' (any env:// launcher) or 'srun'
    device: torch.device = None
    backend: str = None

    @property
    def is_main(self):
        return self.rank == 0


def detect_world(env=None):
    env = os.environ if env is None else env

    def num(key):
        try:
            return int(env[key])
        except (KeyError, ValueError):
            raise TrainerError(f"the environment variable {key} is {env.get(key)!r}, not a number")

    if "RANK" in env and "WORLD_SIZE" in env:
        return World(num("RANK"), num("WORLD_SIZE"), num("LOCAL_RANK") if "LOCAL_RANK" in env else 0, "torchrun")
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1") or 1) > 1:
        for key in ("MASTER_ADDR", "MASTER_PORT"):
            if not env.get(key):
                raise TrainerError(
                    f"srun started {env['SLURM_NTASKS']} tasks but {key} is not set; the batch script must export MASTER_ADDR (the first host of the job) and MASTER_PORT"
                )
        return World(num("SLURM_PROCID"), num("SLURM_NTASKS"), num("SLURM_LOCALID") if "SLURM_LOCALID" in env else 0, "srun")
    return World(0, 1, 0, "single")


def start(world, device_choice="auto", timeout_minutes=30):
    """Pick the device, and join the process group when there are several processes."""
    use_cuda = device_choice == "cuda" or (device_choice == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise TrainerError("--device cuda, but this PyTorch sees no CUDA GPU (torch.cuda.is_available() is False)")
        world.device = torch.device("cuda", world.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(world.device)
    else:
        world.device = torch.device("cpu")
    if world.size > 1:
        world.backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(
            world.backend, init_method="env://", rank=world.rank, world_size=world.size, timeout=datetime.timedelta(minutes=timeout_minutes)
        )
    return world


def stop(world):
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_grads(params, world):
    """Sum every parameter's gradient over the ranks, in buckets of BUCKET_ELEMENTS."""
    if world.size == 1:
        return
    bucket = []
    size = 0
    for p in params:
        bucket.append(p)
        size += p.numel()
        if size >= BUCKET_ELEMENTS:
            _reduce_bucket(bucket)
            bucket, size = [], 0
    if bucket:
        _reduce_bucket(bucket)


def _reduce_bucket(params):
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    at = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[at : at + n].view_as(p.grad))
        at += n


def all_reduce_values(values, world):
    """Sum a few numbers over the ranks in float64 (losses, token counts, flags)."""
    if world.size == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=world.device)
    dist.all_reduce(t)
    return t.tolist()
