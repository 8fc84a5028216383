"""Paper-shaped random checkpoints in the on-disk format the paper released (HF ``QwQZh/gated_attention``).

The protocol benchmark must load its models the way a user's run loads the released ones, so the folders it
writes carry everything those do: a ``config.json`` with ``model_type: "qwen3"``, ``use_qk_norm``, the two gate
flags, ``qkv_bias``, ``torch_dtype: bfloat16`` and an ``auto_map`` to remote code that is not there (running it
would fail loudly; evalsuite must never try); the widened ``q_proj`` in the reference code's per-KV-group row
layout (:func:`evalsuite.models.paper_format.paper_weight_shapes`); weights as bf16 safetensors in several shards
with a ``model.safetensors.index.json``; and the tokenizer's files. Weights are random
(:func:`evalsuite.models.tiny.seeded_weights`, drawn on the GPU when there is one): throughput does not depend on
their values.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from evalsuite import strict_json
from evalsuite.models.convert import GateKind
from evalsuite.models.paper_format import paper_config_from_dict, paper_weight_shapes
from evalsuite.models.tiny import seeded_weights, tiny_config_dict

# The 1.7B dense shape of the paper's table 7 (as evalsuite.models.tiny.paper_shaped_config).
PAPER_DIMS = dict(vocab_size=151936, hidden_size=2048, layers=28, heads=16, kv_heads=8, head_dim=128,
                  intermediate_size=6144)
# A toy of the same structure, for CPU tests of the writer and of the benchmark's driver.
TINY_DIMS = dict(vocab_size=49152, hidden_size=64, layers=2, heads=4, kv_heads=2, head_dim=16, intermediate_size=128)
SHARD_BYTES = 2 * 10 ** 9  # the released folders' shards are ~2 GB each


def released_config(gate: GateKind, dims: dict[str, int], *, max_position: int = 32768) -> dict[str, Any]:
    """The config.json of a released folder: the reference code's keys, bf16, rope_theta 1e6 as Qwen3-1.7B."""
    cfg = tiny_config_dict(gate=gate, **dims)
    cfg.update(rope_theta=1e6, max_position_embeddings=max_position, torch_dtype="bfloat16",
               max_window_layers=dims["layers"])
    return cfg


def write_released(folder: Path, *, gate: GateKind, tokenizer_dir: Path, dims: dict[str, int] = PAPER_DIMS,
                   seed: int = 0, device: str | None = None, shard_bytes: int = SHARD_BYTES) -> dict[str, Any]:
    """Write one folder; returns what was written (files, parameters, bytes). An existing complete folder
    with the same config is kept (the benchmark reruns without rewriting gigabytes)."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    folder = Path(folder)
    config = released_config(gate, dims)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), trust_remote_code=False)
    config.update(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    done = folder / "model.safetensors.index.json"
    if done.is_file() and (folder / "config.json").is_file() and strict_json.read(folder / "config.json") == config:
        return {"folder": str(folder), "reused": True}
    folder.mkdir(parents=True, exist_ok=True)
    for f in Path(tokenizer_dir).iterdir():
        if f.is_file():
            shutil.copy2(f, folder / f.name)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    state = seeded_weights(paper_weight_shapes(paper_config_from_dict(config)), seed=seed, device=device,
                           dtype=torch.bfloat16)
    shards: list[list[str]] = [[]]
    size = 0
    for name in sorted(state):
        nbytes = state[name].numel() * state[name].element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for file, names in zip(files, shards):
        save_file({n: state[n].contiguous().cpu() for n in names}, str(folder / file), metadata={"format": "pt"})
    total = sum(t.numel() * t.element_size() for t in state.values())
    strict_json.write(done, {"metadata": {"total_size": total},
                             "weight_map": {n: f for f, names in zip(files, shards) for n in names}})
    strict_json.write(folder / "config.json", config)  # last: a folder without it is not taken as complete
    return {"folder": str(folder), "reused": False, "shards": files, "bytes": total,
            "parameters": sum(t.numel() for t in state.values())}
