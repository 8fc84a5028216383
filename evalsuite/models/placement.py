"""A model (or a 128K KV cache) too large for one GPU: split it over the GPUs of one rank with device_map.

Composition with data parallelism: ranks are *groups* of GPUs. With
``EVALSUITE_GPUS_PER_RANK=k`` and ``torchrun --nproc_per_node G/k`` on a node of G
GPUs, local rank ``r`` owns GPUs ``r*k .. r*k+k-1``; ``load(..., placement=Sharded(...))`` lays the
model's layers over those k GPUs (accelerate's ``device_map="auto"``, a naive
pipeline: one GPU busy at a time within a rank) and :class:`ShardedLM` splits the
requests over the G/k ranks. Each decoder layer's KV cache lives on that layer's
GPU, so the cache is spread as the layers are; :func:`gpu_group` holds back
``kv_cache_bytes / k`` plus a fixed activation margin on every GPU of the group
before handing the rest to accelerate for weights.

A suite that mixes small and large models runs best as two calls with
``--only-models``: the small ones at one GPU per rank, the large at k.

Tested on CPU only as far as the arguments go (:func:`gpu_group`,
:func:`from_pretrained_kwargs`, :func:`kv_cache_bytes`); the load itself needs
the GPUs and has not run here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from evalsuite.errors import DistributedSetupError
from evalsuite.launch import gpus_per_rank, local_rank

GiB = 1 << 30
ACTIVATION_RESERVE_BYTES = 6 * GiB  # scoring batch (batch_tokens x hidden), LM-head chunk logits, allocator slack


@dataclass(frozen=True)
class GpuGroup:
    """The GPUs one rank owns and the bytes of each that weights may use (accelerate's ``max_memory``)."""

    gpus: tuple[int, ...]
    max_memory: dict[int, int]

    @property
    def first(self) -> str:
        return f"cuda:{self.gpus[0]}"


def kv_cache_bytes(config: Any, tokens: int, *, bytes_per_value: int = 2) -> int:
    """K and V of ``tokens`` positions in every layer: 2 * layers * kv_heads * head_dim * tokens * bytes."""
    heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    return 2 * int(config.num_hidden_layers) * kv_heads * head_dim * int(tokens) * bytes_per_value


def gpu_group(*, gpu_total_bytes: Sequence[int], rank_on_node: int | None = None, gpus_in_group: int | None = None,
              reserve_bytes: int = 0, activation_reserve_bytes: int = ACTIVATION_RESERVE_BYTES) -> GpuGroup:
    """This rank's GPUs and their weight budgets. ``reserve_bytes`` (e.g. the KV cache) is spread evenly."""
    r = local_rank() if rank_on_node is None else rank_on_node
    k = gpus_per_rank() if gpus_in_group is None else gpus_in_group
    gpus = tuple(range(r * k, r * k + k))
    if gpus[-1] >= len(gpu_total_bytes):
        raise DistributedSetupError(
            f"rank {r} on this node needs GPUs {gpus[0]}..{gpus[-1]} but {len(gpu_total_bytes)} are visible")
    held = activation_reserve_bytes + -(-reserve_bytes // k)  # ceil: the cache is split with the layers
    budget = {g: int(gpu_total_bytes[g]) - held for g in gpus}
    short = {g: b for g, b in budget.items() if b <= 0}
    if short:
        raise DistributedSetupError(
            f"GPUs {sorted(short)} have no room left for weights after holding back {held / GiB:.1f} GiB each "
            f"(KV cache {reserve_bytes / GiB:.1f} GiB over {k} GPUs + activations); use more GPUs per rank")
    return GpuGroup(gpus=gpus, max_memory=budget)


def visible_gpu_bytes() -> list[int]:
    return [torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count())]


def from_pretrained_kwargs(group: GpuGroup, *, dtype: torch.dtype, attn_implementation: str = "sdpa") -> dict[str, Any]:
    """transformers' ``from_pretrained`` arguments that place the model over ``group`` and nowhere else
    (no CPU or disk offload: a model that does not fit fails at load, not slowly at run time)."""
    return {"device_map": "auto", "max_memory": dict(group.max_memory), "dtype": dtype,
            "attn_implementation": attn_implementation, "trust_remote_code": False}


@dataclass(frozen=True)
class Sharded:
    """The loader's ``placement``: the model's layers over this rank's GPU group (accelerate's device map).

    ``max_tokens`` is the longest sequence the model will see (its ``max_length``): the KV cache for it is
    held back on the group's GPUs. ``group``: the GPUs and budgets (None: this rank's, from the launcher's
    environment and the visible GPUs' memory).
    """

    max_tokens: int
    group: GpuGroup | None = None

    def budget(self, config: Any, dtype: torch.dtype) -> GpuGroup:
        return self.group or gpu_group(gpu_total_bytes=visible_gpu_bytes(),
                                       reserve_bytes=kv_cache_bytes(config, self.max_tokens,
                                                                    bytes_per_value=dtype.itemsize))


def dispatch_paper_model(model: torch.nn.Module, budget: GpuGroup, dtype: torch.dtype) -> torch.nn.Module:
    """The paper's gated format, built natively on the CPU, dispatched over the group's budgets."""
    from accelerate import dispatch_model, infer_auto_device_map

    device_map = infer_auto_device_map(model, max_memory=dict(budget.max_memory), dtype=dtype,
                                       no_split_module_classes=list(model._no_split_modules or []))
    return dispatch_model(model, device_map=device_map)


def check_placed(model: torch.nn.Module, folder: Path, budget: GpuGroup) -> None:
    """No CPU or disk offload: a model that does not fit fails at load, not slowly at run time."""
    placed = {str(d) for d in getattr(model, "hf_device_map", {}).values()}
    if placed & {"cpu", "disk"}:
        raise DistributedSetupError(f"{folder}: does not fit GPUs {list(budget.gpus)} (placement {sorted(placed)})")
