"""Models: native gated-attention Qwen3, the paper's checkpoint format, YaRN, tiny test checkpoints, and the
reading of any model's layers (softmax or linear attention, which gate) that hybrid models need.

``load_model`` (the one loader for every source) lives in ``evalsuite.models.loader``
and dispatches paper-format folders to :func:`load_paper_checkpoint`.
"""

from __future__ import annotations

from evalsuite.models.convert import (
    GateKind,
    infer_gate_from_rows,
    infer_gate_from_state_dict,
    paper_to_per_head,
    paper_to_qwen3next_q_proj,
    per_head_to_paper,
    q_proj_rows,
    query_first_order,
    qwen3next_to_paper_q_proj,
    split_paper_q_rows,
)
from evalsuite.models.gated_qwen3 import (
    GatedQwen3Attention,
    GatedQwen3Config,
    GatedQwen3ForCausalLM,
    GatedQwen3Model,
)
from evalsuite.models.paper_format import (
    is_paper_format,
    load_paper_checkpoint,
    paper_config_from_dict,
    paper_weight_shapes,
    read_config_json,
    validate_paper_weights,
)
from evalsuite.models.layers import LayerInfo, has_recurrent_layers, read_layers
from evalsuite.models.loader import LoadedModel, load, load_model
from evalsuite.models.placement import GpuGroup, Sharded, gpu_group, kv_cache_bytes
from evalsuite.models.qwen3next import paper_to_qwen3next, qwen3next_to_paper
from evalsuite.models.tiny import paper_shaped_config, random_model, write_tiny_checkpoint
from evalsuite.models.tiny_hybrid import hybrid_config, random_hybrid, write_tiny_hybrid
from evalsuite.models.yarn import apply_yarn, rope_summary

__all__ = [
    "LoadedModel",
    "GpuGroup",
    "Sharded",
    "gpu_group",
    "kv_cache_bytes",
    "load",
    "load_model",
    "GateKind",
    "LayerInfo",
    "GatedQwen3Attention",
    "GatedQwen3Config",
    "GatedQwen3ForCausalLM",
    "GatedQwen3Model",
    "apply_yarn",
    "has_recurrent_layers",
    "hybrid_config",
    "infer_gate_from_rows",
    "infer_gate_from_state_dict",
    "is_paper_format",
    "load_paper_checkpoint",
    "paper_config_from_dict",
    "paper_shaped_config",
    "paper_to_per_head",
    "paper_to_qwen3next",
    "paper_to_qwen3next_q_proj",
    "paper_weight_shapes",
    "per_head_to_paper",
    "q_proj_rows",
    "query_first_order",
    "qwen3next_to_paper",
    "qwen3next_to_paper_q_proj",
    "random_hybrid",
    "random_model",
    "read_layers",
    "read_config_json",
    "rope_summary",
    "split_paper_q_rows",
    "validate_paper_weights",
    "write_tiny_checkpoint",
    "write_tiny_hybrid",
]
