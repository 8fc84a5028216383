"""What the suite runner needs to run data-parallel: placement, wrapping, one writer, lock-step units.

Built by :func:`distributed_run_hooks`; in a plain single process every method
is a no-op (``wrap`` still wraps, so that 1 and N processes compute alike), and
the runner can call them unconditionally.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import torch

from evalsuite._env import temporary_env

from evalsuite.run.distributed.process import (
    Collective,
    TorchCollective,
    gpus_per_rank,
    init_distributed,
    local_rank,
)

T = TypeVar("T")


@dataclass(frozen=True)
class DistributedRun:
    """This process's place in the job, and the runner-facing operations that depend on it."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    gpus_per_rank: int = 1
    comm: Collective = field(default_factory=TorchCollective, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        """The one rank that writes records, the manifest and the ``latest`` link."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def device(self, requested: str) -> str:
        """Where this rank puts a model the spec places on ``requested``: ``cuda`` becomes its own GPU."""
        if self.active and requested.startswith("cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank * self.gpus_per_rank}"  # ranks own consecutive blocks of GPUs
        return requested

    def wrap(self, lm: Any) -> Any:
        """The LM lm-eval should see: a :class:`ShardedLM` over ``lm``, at every world size including 1, so that
        the inner LM is called with the same chunks of requests (and rounds the same) however many ranks run."""
        from evalsuite.run.distributed.sharded_lm import ShardedLM

        return lm if isinstance(lm, ShardedLM) else ShardedLM(lm, comm=self.comm)

    def agree(self, value: T) -> T:
        """Rank 0's ``value`` on every rank: decisions that read the results folder (which may be on rank 0's
        node only), e.g. "this unit is already complete", must be taken once or the ranks fall out of step."""
        return self.comm.broadcast_object(value) if self.active else value

    def decide(self, fn: Callable[[], T]) -> T:
        """``fn()`` evaluated on rank 0 only, its result on every rank."""
        return self.agree(fn() if self.is_main else None)  # type: ignore[arg-type]

    def runs_unit(self, kind: str) -> bool:
        """Whether this rank computes a unit of this kind: lm-eval units on every rank (they are sharded
        inside), others (diagnostics: direct forward passes, nothing to shard) on rank 0 alone."""
        return kind == "lm_eval" or self.is_main

    def barrier(self) -> None:
        if self.active:
            self.comm.barrier()

    @contextmanager
    def unit_scope(self) -> Iterator[None]:
        """Around one unit on every rank: lm-eval sees a single process, and the ranks leave together.

        lm-eval's ``simple_evaluate`` returns ``None`` unless ``LOCAL_RANK`` is 0 (its tensor-parallel
        convention), so inside the scope ``LOCAL_RANK`` reads 0; the process group is already up and does
        not read it again. The barrier at exit keeps rank 0's record writing ahead of the next unit.
        """
        with temporary_env("LOCAL_RANK", "0" if self.active else None):
            yield
        self.barrier()  # not on an exception: a rank that raised alone would wait here forever

    def provenance(self) -> dict[str, Any]:
        """For the manifest (not for unit hashes: results do not depend on the world size)."""
        backend = None
        if self.active:
            import torch.distributed as tdist

            backend = tdist.get_backend() if tdist.is_initialized() else None
        return {"world_size": self.world_size, "gpus_per_rank": self.gpus_per_rank, "backend": backend}


def distributed_run_hooks(*, comm: Collective | None = None) -> DistributedRun:
    """Start the process group if the launcher asked for one, and return this process's hooks."""
    rank, world = init_distributed()
    return DistributedRun(rank=rank, world_size=world, local_rank=local_rank() if world > 1 else 0,
                          gpus_per_rank=gpus_per_rank(), comm=comm or TorchCollective())
