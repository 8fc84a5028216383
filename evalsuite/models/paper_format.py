"""Read a checkpoint folder in the format the paper released (HF ``QwQZh/gated_attention``).

Such a folder has ``model_type: "qwen3"``, the flags ``use_qk_norm``,
``headwise_attn_output_gate``, ``elementwise_attn_output_gate`` (and usually
``qkv_bias``), an ``auto_map`` to remote code that does not import on
transformers 5, and standard Qwen3 weight names with a widened ``q_proj``.
We parse it into :class:`GatedQwen3Config`, check every weight name and shape
against it, and load the weights natively: safetensors (single or sharded) or
``.bin`` through ``torch.load(weights_only=True)``. ``auto_map`` code is never
imported or executed. Every refusal is a one-line :class:`ModelLoadError` that
names the folder and the mismatch.

Semantics follow the reference code (github qiuzh20/gated_attention): keys a
config.json omits take that code's defaults; ``qkv_bias`` puts biases on
``q/k/v/o_proj`` alike (its ``o_proj`` uses the same flag) and the stock
``attention_bias`` key, which that code ignores, is ignored too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from evalsuite.errors import ModelLoadError
from evalsuite.models.convert import infer_gate_from_rows, q_proj_rows
from evalsuite.models.gated_qwen3 import GatedQwen3Config, GatedQwen3ForCausalLM
from evalsuite.models.yarn import apply_yarn
from evalsuite.spec import YarnSpec

GATE_FLAGS = ("headwise_attn_output_gate", "elementwise_attn_output_gate")
_PAPER_MARKERS = (*GATE_FLAGS, "use_qk_norm", "qkv_bias")
_REQUIRED_INTS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                  "num_attention_heads", "num_key_value_heads")
_BOOL_KEYS = (*_PAPER_MARKERS, "tie_word_embeddings", "use_sliding_window")
# The reference configuration_qwen3.py's defaults, for optional keys a config.json leaves out.
_REFERENCE_DEFAULTS: dict[str, Any] = {
    "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False, "rope_theta": 10000.0, "attention_dropout": 0.0, "use_qk_norm": True,
    "qkv_bias": False, "headwise_attn_output_gate": False, "elementwise_attn_output_gate": False,
}
# Keys that describe the source, not the model; dropped (auto_map is never used, by design).
_DROPPED_KEYS = ("auto_map", "architectures", "model_type", "transformers_version", "_name_or_path",
                 "torch_dtype", "dtype", "attention_bias", "use_sliding_window")
_IGNORED_WEIGHTS = re.compile(r"(^|\.)rotary_emb\.inv_freq$")  # non-persistent buffers old code may have saved
_Q_PROJ = re.compile(r"^model\.layers\.(\d+)\.self_attn\.q_proj\.weight$")


def is_paper_format(config_dict: Mapping[str, Any]) -> bool:
    """True for a ``model_type: "qwen3"`` config carrying any of the paper's keys (gate flags, use_qk_norm, qkv_bias)."""
    if config_dict.get("model_type") != "qwen3":
        return False
    return any(k in config_dict for k in _PAPER_MARKERS) or any("attn_output_gate" in k for k in config_dict)


def read_config_json(folder: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of ``folder``."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder}: no config.json")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path}: invalid JSON at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def paper_config_from_dict(
    config_dict: Mapping[str, Any], *, where: str = "config.json", attn_implementation: str | None = None
) -> GatedQwen3Config:
    """Validate a paper-format config dict and build the native config from it."""
    d = {**_REFERENCE_DEFAULTS, **config_dict}
    problem = _config_problem(d)
    if problem:
        raise ModelLoadError(f"{where}: {problem}")
    kwargs = {k: v for k, v in d.items() if k not in _DROPPED_KEYS and k != "qkv_bias"}
    kwargs["attention_bias"] = d["qkv_bias"]  # the reference code's one bias switch, for q/k/v/o alike
    kwargs["architectures"] = ["GatedQwen3ForCausalLM"]
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        return GatedQwen3Config(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{where}: invalid config: {str(exc).splitlines()[0]}") from None


def _config_problem(d: Mapping[str, Any]) -> str | None:
    """The first thing wrong with a (defaults-filled) paper config dict, in words; None if nothing is."""
    if d.get("model_type") != "qwen3":
        return f"model_type is {d.get('model_type')!r}, the paper's format has 'qwen3'"
    unknown = sorted(k for k in d if "gate" in k.lower() and k not in GATE_FLAGS)
    if unknown:
        known = " and ".join(GATE_FLAGS)
        return f"unknown gate setting {unknown[0]}={d[unknown[0]]!r}; only {known} are understood"
    missing = [k for k in _REQUIRED_INTS if k not in d]
    if missing:
        return f"missing required key {missing[0]}"
    for key in (*_REQUIRED_INTS, "head_dim", "max_position_embeddings"):
        if not isinstance(d[key], int) or isinstance(d[key], bool) or d[key] <= 0:
            return f"{key} must be a positive integer, got {d[key]!r}"
    for key in _BOOL_KEYS:
        if key in d and not isinstance(d[key], bool):
            return f"{key} must be true or false, got {d[key]!r}"
    if d["headwise_attn_output_gate"] and d["elementwise_attn_output_gate"]:
        return "both headwise_attn_output_gate and elementwise_attn_output_gate are true; at most one gate"
    if d.get("use_sliding_window"):
        return "use_sliding_window: true is not supported (the reference code windows only under flash-attention)"
    H, KV = d["num_attention_heads"], d["num_key_value_heads"]
    if H % KV:
        return f"num_attention_heads={H} is not a multiple of num_key_value_heads={KV}"
    return None


def paper_weight_shapes(config: GatedQwen3Config) -> dict[str, tuple[int, ...]]:
    """Every weight name the paper's code saves for ``config``, with its shape."""
    H, KV, D = config.num_attention_heads, config.num_key_value_heads, config.head_dim
    hidden, ffn, vocab = config.hidden_size, config.intermediate_size, config.vocab_size
    q_rows = q_proj_rows(config.attn_output_gate, num_heads=H, head_dim=D)
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden), "model.norm.weight": (hidden,)}
    if not config.tie_word_embeddings:
        shapes["lm_head.weight"] = (vocab, hidden)
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        attn = {"q_proj": (q_rows, hidden), "k_proj": (KV * D, hidden), "v_proj": (KV * D, hidden), "o_proj": (hidden, H * D)}
        for name, shape in attn.items():
            shapes[f"{p}self_attn.{name}.weight"] = shape
            if config.attention_bias:
                shapes[f"{p}self_attn.{name}.bias"] = shape[:1]
        if config.use_qk_norm:
            shapes[f"{p}self_attn.q_norm.weight"] = (D,)
            shapes[f"{p}self_attn.k_norm.weight"] = (D,)
        shapes[f"{p}mlp.gate_proj.weight"] = (ffn, hidden)
        shapes[f"{p}mlp.up_proj.weight"] = (ffn, hidden)
        shapes[f"{p}mlp.down_proj.weight"] = (hidden, ffn)
        shapes[f"{p}input_layernorm.weight"] = (hidden,)
        shapes[f"{p}post_attention_layernorm.weight"] = (hidden,)
    return shapes


def _gate_claim(config: GatedQwen3Config) -> str:
    gate = config.attn_output_gate
    return "a config with no gate flag" if gate == "none" else f"{gate}_attn_output_gate: true"


def _listed(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")


def validate_paper_weights(found: Mapping[str, tuple[int, ...]], config: GatedQwen3Config, *, where: str) -> None:
    """Refuse, naming the first mismatch, unless ``found`` (name -> shape) is exactly what ``config`` implies."""
    H, D = config.num_attention_heads, config.head_dim
    found = {k: tuple(v) for k, v in found.items() if not _IGNORED_WEIGHTS.search(k)}
    expected = paper_weight_shapes(config)
    want_rows = q_proj_rows(config.attn_output_gate, num_heads=H, head_dim=D)
    for name in sorted((k for k in found if _Q_PROJ.match(k)), key=lambda k: int(_Q_PROJ.match(k).group(1))):
        rows = found[name][0]
        if rows != want_rows:
            fit = infer_gate_from_rows(rows, num_heads=H, head_dim=D)
            hint = f"{rows} rows is the {fit} layout" if fit else f"{rows} rows fits no gate layout"
            raise ModelLoadError(
                f"{where}: layer {_Q_PROJ.match(name).group(1)} q_proj has {rows} rows but {_gate_claim(config)} "
                f"needs {want_rows} (H={H}, D={D}); {hint}"
            )
    norms = sorted(k for k in found if k.endswith(("self_attn.q_norm.weight", "self_attn.k_norm.weight")))
    if norms and not config.use_qk_norm:
        raise ModelLoadError(f"{where}: weights have {norms[0]} but config.json says use_qk_norm: false")
    extra = sorted(set(found) - set(expected) - ({"lm_head.weight"} if config.tie_word_embeddings else set()))
    missing = sorted(set(expected) - set(found))
    bias_hint = f" (qkv_bias: {str(config.attention_bias).lower()})"
    if missing:
        hint = bias_hint if any(k.endswith(".bias") for k in missing) else ""
        raise ModelLoadError(f"{where}: missing weights {_listed(missing)}{hint}")
    if extra:
        hint = bias_hint if any(k.endswith(".bias") for k in extra) else ""
        raise ModelLoadError(f"{where}: unexpected weights {_listed(extra)}{hint}")
    for name, shape in expected.items():
        if found[name] != shape:
            raise ModelLoadError(f"{where}: {name} has shape {list(found[name])}, config.json implies {list(shape)}")
    if config.tie_word_embeddings and "lm_head.weight" in found and found["lm_head.weight"] != expected["model.embed_tokens.weight"]:
        raise ModelLoadError(f"{where}: lm_head.weight has shape {list(found['lm_head.weight'])} but tie_word_embeddings is true")


@dataclass
class _WeightFiles:
    """The weight files of a folder and the shape of every tensor in them."""

    kind: str  # "safetensors" or "bin"
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    file_of: dict[str, Path] = field(default_factory=dict)
    loaded: dict[str, torch.Tensor] = field(default_factory=dict)  # .bin files are read whole, once


def _index_files(folder: Path) -> tuple[str, list[Path]]:
    for kind, single, index in (("safetensors", "model.safetensors", "model.safetensors.index.json"),
                                ("bin", "pytorch_model.bin", "pytorch_model.bin.index.json")):
        if (folder / index).is_file():
            try:
                weight_map = json.loads((folder / index).read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ModelLoadError(f"{folder / index}: not a valid index (needs a weight_map)") from None
            return kind, [folder / f for f in sorted(set(weight_map.values()))]
        if (folder / single).is_file():
            return kind, [folder / single]
    raise ModelLoadError(f"{folder}: no weights (model.safetensors[.index.json] or pytorch_model.bin[.index.json])")


def _read_weight_files(folder: Path) -> _WeightFiles:
    kind, files = _index_files(folder)
    out = _WeightFiles(kind=kind)
    for path in files:
        if not path.is_file():
            raise ModelLoadError(f"{folder}: the index names {path.name}, which is missing")
        try:
            if kind == "safetensors":
                from safetensors import safe_open

                with safe_open(str(path), framework="pt") as f:
                    part = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            else:
                tensors = torch.load(path, map_location="cpu", weights_only=True)
                if not isinstance(tensors, dict):
                    raise ModelLoadError(f"{path}: expected a state dict, got {type(tensors).__name__}")
                out.loaded.update(tensors)
                part = {k: tuple(v.shape) for k, v in tensors.items()}
        except ModelLoadError:
            raise
        except Exception as exc:  # corrupt file, pickle with code in it, ...
            raise ModelLoadError(f"{path}: cannot read weights: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        out.shapes.update(part)
        out.file_of.update(dict.fromkeys(part, path))
    return out


def _load_tensors(files: _WeightFiles, names: list[str], *, dtype: torch.dtype, device: str) -> dict[str, torch.Tensor]:
    """The named tensors on ``device``, floating ones cast to ``dtype`` (one tensor in flight at a time)."""
    def place(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)

    if files.kind == "bin":
        return {n: place(files.loaded[n]) for n in names}
    from safetensors import safe_open

    out: dict[str, torch.Tensor] = {}
    for path in sorted(set(files.file_of[n] for n in names)):
        with safe_open(str(path), framework="pt") as f:
            out.update({n: place(f.get_tensor(n)) for n in names if files.file_of[n] == path})
    return out


def _build_model(config: GatedQwen3Config, state: dict[str, torch.Tensor], *, device: str, where: str) -> GatedQwen3ForCausalLM:
    try:
        with torch.device("meta"):
            model = GatedQwen3ForCausalLM(config)
    except (ValueError, ImportError) as exc:  # e.g. an attention implementation this machine lacks
        raise ModelLoadError(f"{where}: cannot build the model: {str(exc).splitlines()[0][:200]}") from None
    result = model.load_state_dict(state, strict=False, assign=True)
    allowed_missing = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(result.missing_keys) - allowed_missing or result.unexpected_keys:  # validated before: a bug if reached
        raise RuntimeError(f"state dict does not fit the model: {result.missing_keys} {result.unexpected_keys}")
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    # The rotary buffers are not in any checkpoint: rebuild them on the device, in float32 as stock does.
    with torch.device(device):
        model.model.rotary_emb = type(model.model.rotary_emb)(config=config)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"tensors left on the meta device: {left[:3]}")
    return model.eval()


def load_paper_checkpoint(
    path: Path,
    *,
    dtype: torch.dtype,
    device: str,
    attn_implementation: str = "sdpa",
    yarn: YarnSpec | None = None,
) -> GatedQwen3ForCausalLM:
    """Load a paper-format folder as a native :class:`GatedQwen3ForCausalLM`, never running its ``auto_map`` code."""
    folder = Path(path)
    where = str(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"{where}: not a directory")
    config = paper_config_from_dict(read_config_json(folder), where=where, attn_implementation=attn_implementation)
    if yarn is not None:
        apply_yarn(config, yarn)
    files = _read_weight_files(folder)
    validate_paper_weights(files.shapes, config, where=where)
    names = [n for n in files.shapes if not _IGNORED_WEIGHTS.search(n)]
    state = _load_tensors(files, names, dtype=dtype, device=device)
    if config.tie_word_embeddings and "lm_head.weight" in state:
        if not torch.equal(state.pop("lm_head.weight"), state["model.embed_tokens.weight"]):
            raise ModelLoadError(f"{where}: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight")
    config.dtype = dtype
    config._name_or_path = where
    model = _build_model(config, state, device=device, where=where)
    _load_generation_config(model, folder)
    return model


def _load_generation_config(model: GatedQwen3ForCausalLM, folder: Path) -> None:
    """Use the folder's generation_config.json (plain JSON) when there is one; keep the default otherwise."""
    if not (folder / "generation_config.json").is_file():
        return
    from transformers import GenerationConfig

    try:
        model.generation_config = GenerationConfig.from_pretrained(folder)
    except Exception as exc:
        raise ModelLoadError(f"{folder / 'generation_config.json'}: cannot read: {type(exc).__name__}") from None
