"""Static YaRN context extension, and a record of the RoPE a model really uses.

transformers 5.x keeps RoPE settings in ``config.rope_parameters`` (a flat dict
with ``rope_type`` and ``rope_theta``; legacy ``rope_scaling`` + ``rope_theta``
are converted on load, and ``config.rope_scaling`` still reads/writes it). Both
5.17 and 5.24 compute YaRN with ``ROPE_INIT_FUNCTIONS["yarn"]``, whose default
attention factor is ``0.1*ln(factor) + 1``. Apply YaRN to a config **before**
building the model: the rotary embedding reads it once, at construction.
"""

from __future__ import annotations

from typing import Any

from evalsuite.spec.yarn import YarnSpec


def _rope_theta(config: Any, params: dict[str, Any]) -> float:
    theta = params.get("rope_theta", getattr(config, "rope_theta", None))
    if theta is None:
        theta = getattr(config, "default_theta", 10000.0)
    return float(theta)


def _flat_rope_parameters(config: Any) -> tuple[dict[str, Any], str]:
    """A copy of the config's RoPE dict and which attribute it came from."""
    if hasattr(type(config), "rope_parameters") or "rope_parameters" in vars(config):
        params, source = getattr(config, "rope_parameters", None), "rope_parameters"
    else:  # pre-5.x style config object
        params, source = getattr(config, "rope_scaling", None), "rope_scaling"
    params = dict(params or {})
    if any(isinstance(v, dict) for v in params.values()):
        raise ValueError(f"per-layer-type rope_parameters ({sorted(params)}) are not supported here")
    if "type" in params and "rope_type" not in params:  # oldest legacy key
        params["rope_type"] = params.pop("type")
    params.setdefault("rope_type", "default")
    params.setdefault("rope_theta", _rope_theta(config, params))
    return params, source


def apply_yarn(config: Any, spec: YarnSpec) -> Any:
    """Set static YaRN on ``config`` (in place, also returned); keeps θ and any partial rotary factor."""
    current, source = _flat_rope_parameters(config)
    params: dict[str, Any] = {
        "rope_type": "yarn",
        "rope_theta": current["rope_theta"],
        "factor": float(spec.factor),
        "original_max_position_embeddings": int(spec.original_max_position_embeddings),
    }
    for key in ("attention_factor", "beta_fast", "beta_slow"):
        if (value := getattr(spec, key)) is not None:
            params[key] = float(value)
    if "partial_rotary_factor" in current:
        params["partial_rotary_factor"] = current["partial_rotary_factor"]
    if source == "rope_parameters":
        config.rope_parameters = params
    else:
        config.rope_theta = params.pop("rope_theta")
        config.rope_scaling = params
    # transformers' standardisation lets a top-level ``original_max_position_embeddings`` (Phi-3 style)
    # override the one in the dict on every rope init: keep the two equal.
    if hasattr(config, "original_max_position_embeddings"):
        config.original_max_position_embeddings = int(spec.original_max_position_embeddings)
    config.max_position_embeddings = spec.max_position_embeddings
    return config


def rope_summary(config: Any) -> dict[str, Any]:
    """Exactly which RoPE a config (or a model, via ``.config``) uses, JSON-ready, for the run manifest.

    ``attention_scaling`` is the factor the rotary embedding really multiplies
    cos/sin by, computed with transformers' own init function.
    """
    config = getattr(config, "config", config)
    params, source = _flat_rope_parameters(config)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    partial = float(params.get("partial_rotary_factor", getattr(config, "partial_rotary_factor", None) or 1.0))
    summary: dict[str, Any] = {
        "rope_type": params["rope_type"],
        "rope_theta": float(params["rope_theta"]),
        "head_dim": int(head_dim),
        "rotary_dim": int(head_dim * partial),
        "partial_rotary_factor": partial,
        "max_position_embeddings": int(config.max_position_embeddings),
        "source": source,
    }
    for key in ("factor", "original_max_position_embeddings", "attention_factor", "beta_fast", "beta_slow",
                "low_freq_factor", "high_freq_factor", "mscale", "mscale_all_dim", "truncate"):
        if key in params:
            summary[key] = params[key]
    summary["attention_scaling"] = _effective_attention_scaling(config, params["rope_type"])
    return summary


def _effective_attention_scaling(config: Any, rope_type: str) -> float:
    if rope_type == "default":
        return 1.0
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    _, scaling = ROPE_INIT_FUNCTIONS[rope_type](config)
    return float(scaling)
