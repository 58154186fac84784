"""The run's processes when launched by ``accelerate launch`` / ``torchrun`` (``WORLD_SIZE`` > 1).

Every process runs the same code; the trainer shards each global batch across them (DDP averages
the gradients), sampling runs on rank 0 and is shared, files are written by rank 0 only, and work
that does not shard is refused rather than done once per process.
"""

from __future__ import annotations

import os

from .errors import AlignbenchError


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def refuse_multiprocess(what: str) -> None:
    """Stop a step that would run whole in every process (the same work N times) under ``accelerate launch``."""
    n = world_size()
    if n > 1:
        raise AlignbenchError(f"{what} does not shard across processes: under {n} processes it "
                              f"would do the same work {n} times; run it with one process (no accelerate launch)")


def _init_process_group() -> None:
    import torch
    from accelerate import PartialState  # lazy: only multi-process runs need it

    # joins (or reuses) the launcher's process group; gloo without a GPU
    PartialState(cpu=not torch.cuda.is_available())


def on_main_then_share(fn):
    """``fn()`` run on rank 0 only; every process returns its result (one process: just ``fn()``)."""
    if world_size() == 1:
        return fn()
    import torch.distributed as dist

    _init_process_group()
    box = [fn() if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        _init_process_group()
        dist.barrier()


def main_then_load(produce, load):
    """``produce()`` on rank 0 (which writes its result to disk); the other processes wait, then ``load()`` it.
    One process: just ``produce()``."""
    if world_size() == 1:
        return produce()
    if is_main():
        result = produce()
        barrier()
        return result
    barrier()
    return load()
