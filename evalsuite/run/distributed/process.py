"""The process group: start it from the launcher's environment, and the few collectives evalsuite needs.

``torchrun`` and ``accelerate launch`` both export ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
without them (a plain ``python`` call) everything here is a no-op and the
process is rank 0 of 1. NCCL is used on GPUs, gloo on CPU.

NVLink multicast (NVLS / symmetric memory) stays off on the project's machines:
the three variables in :data:`MULTICAST_OFF` are set with ``setdefault`` before
the group starts, so a user can still override them deliberately.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.distributed as tdist

from evalsuite.errors import DistributedSetupError, RankLostError
from evalsuite.launch import capture_local_rank, env_int as _env_int, gpus_per_rank, local_rank

MULTICAST_OFF = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
# A rank waits this long in a collective for the others before the job fails. Long on purpose: a rank
# loading a 15B model or running a diagnostics unit alone keeps the rest waiting at a barrier. A rank that
# *dies* does not wait for this: torchrun tears the whole job down at once.
DEFAULT_TIMEOUT_S = 3 * 3600


def first_gpu_of_rank() -> int:
    """The CUDA index of this rank's first GPU: ranks on a node own consecutive blocks of GPUs."""
    return local_rank() * gpus_per_rank()


def init_distributed(*, timeout_s: float | None = None) -> tuple[int, int]:
    """Start the process group from the environment; ``(rank, world_size)``. Idempotent; ``(0, 1)`` alone."""
    for key, value in MULTICAST_OFF.items():
        os.environ.setdefault(key, value)
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_rank(), tdist.get_world_size()
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return 0, 1
    rank = _env_int("RANK", 0)
    capture_local_rank()
    timeout = dt.timedelta(seconds=timeout_s or _env_int("EVALSUITE_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    kwargs: dict[str, Any] = {}
    if torch.cuda.is_available():
        gpu = first_gpu_of_rank()
        n_gpus = torch.cuda.device_count()
        if gpu + gpus_per_rank() > n_gpus:
            raise DistributedSetupError(
                f"local rank {local_rank()} needs GPUs {gpu}..{gpu + gpus_per_rank() - 1} but {n_gpus} are visible; "
                f"launch at most {n_gpus // gpus_per_rank()} processes per node")
        torch.cuda.set_device(gpu)
        backend = "nccl"
        kwargs["device_id"] = torch.device("cuda", gpu)  # binds NCCL to this GPU: no guessing in barrier()
    else:
        backend = "gloo"
    tdist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                             timeout=timeout, **kwargs)
    return rank, world


def rank() -> int:
    return tdist.get_rank() if tdist.is_available() and tdist.is_initialized() else 0


def world_size() -> int:
    return tdist.get_world_size() if tdist.is_available() and tdist.is_initialized() else 1


def is_main() -> bool:
    """True on rank 0, and in a single process: the one rank that writes records."""
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        tdist.barrier()


def shutdown() -> None:
    """Leave the process group (at the end of a run; avoids NCCL's 'destroy_process_group' warning)."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


class Collective(Protocol):
    """What :class:`~evalsuite.run.distributed.ShardedLM` needs from the process group (a fake in unit tests)."""

    @property
    def rank(self) -> int: ...

    @property
    def world_size(self) -> int: ...

    def all_gather_object(self, obj: Any) -> list[Any]: ...

    def broadcast_object(self, obj: Any) -> Any: ...

    def barrier(self) -> None: ...


@dataclass(frozen=True)
class TorchCollective:
    """The default process group (works before ``init_distributed`` too: then it is one rank)."""

    @property
    def rank(self) -> int:
        return rank()

    @property
    def world_size(self) -> int:
        return world_size()

    def all_gather_object(self, obj: Any) -> list[Any]:
        if self.world_size == 1:
            return [obj]
        out: list[Any] = [None] * self.world_size
        with _peer_loss("all_gather_object"):
            tdist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world_size == 1:
            return obj
        box = [obj]
        with _peer_loss("broadcast_object_list"):
            tdist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        with _peer_loss("barrier"):
            barrier()


@contextlib.contextmanager
def _peer_loss(op: str) -> Iterator[None]:
    """A collective's transport failure (gloo: "connection closed"; NCCL: a remote error), typed: the runner
    ends the run on :class:`RankLostError` instead of recording the unit in hand as failed."""
    try:
        yield
    except RankLostError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError or DistBackendError, by backend
        raise RankLostError(f"{op} failed on rank {rank()}: a peer rank is gone ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
