"""What the launcher (``torchrun``, ``accelerate launch``) told this process: its rank on the node, its GPUs.

Standard library only, so both the loader's placement (:mod:`evalsuite.models.placement`) and the process
group (:mod:`evalsuite.run.distributed.process`) read the same values without importing each other.
"""

from __future__ import annotations

import os

from evalsuite.errors import DistributedSetupError

_launch_local_rank: int | None = None  # LOCAL_RANK as the launcher set it, captured when the group starts


def env_int(name: str, default: int) -> int:
    """An integer environment variable, ``default`` when unset or empty; a non-integer is the user's mistake."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise DistributedSetupError(f"environment variable {name}={raw!r} is not an integer") from None


def gpus_per_rank() -> int:
    """GPUs each rank owns (``EVALSUITE_GPUS_PER_RANK``, default 1): >1 when models are split with device_map."""
    n = env_int("EVALSUITE_GPUS_PER_RANK", 1)
    if n < 1:
        raise DistributedSetupError(f"EVALSUITE_GPUS_PER_RANK must be >= 1, got {n}")
    return n


def local_rank() -> int:
    """This process's index on its node, as the launcher set it (even while lm-eval is shown LOCAL_RANK=0)."""
    if _launch_local_rank is not None:
        return _launch_local_rank
    return env_int("LOCAL_RANK", env_int("RANK", 0))


def capture_local_rank() -> int:
    """Remember the launcher's LOCAL_RANK before lm-eval is shown 0 (called when the process group starts)."""
    global _launch_local_rank
    _launch_local_rank = local_rank()
    return _launch_local_rank
