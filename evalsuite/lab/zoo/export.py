"""Write a trained model in the paper's on-disk format, with its tokenizer, model card and checksums.

The folder is what ``QwQZh/gated_attention`` ships, at mini size: a
``config.json`` with ``model_type: "qwen3"``, ``use_qk_norm`` and the gate
flags; ``model.safetensors`` (bf16, standard Qwen3 names, the widened
``q_proj`` in per-KV-group row order, no ``lm_head`` since embeddings are
tied); the tokenizer files; ``MODEL_CARD.md``; ``SHA256SUMS``. There is no
``auto_map`` (nothing remote to run). After writing, the folder is loaded back
through :func:`evalsuite.models.loader.load` and its logits compared with the
in-memory model's, so a layout mistake cannot ship.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from evalsuite import strict_json
from evalsuite.models.gated_qwen3 import GatedQwen3ForCausalLM
from evalsuite.models.paper_format import paper_weight_shapes, validate_paper_weights
from evalsuite.models.loader import sha256_file
from evalsuite.lab.zoo.data import ENDOFTEXT

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
CHECKSUMMED = ("config.json", "model.safetensors", *TOKENIZER_FILES)


def write_zoo_tokenizer(tokenizer_json: Path, folder: Path) -> Path:
    """SmolLM2's ``tokenizer.json`` with the pretraining special tokens: bos = eos = unk = pad = <|endoftext|> (id 0).

    The GGUF the project extracts the tokenizer from is the Instruct model's, whose
    eos is ``<|im_end|>``; SmolLM2's base model, like these, uses ``<|endoftext|>``,
    which is also the document separator they were trained with.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tokenizer_json, folder / "tokenizer.json")
    config = {"backend": "tokenizers", "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": ENDOFTEXT,
              "eos_token": ENDOFTEXT, "unk_token": ENDOFTEXT, "pad_token": ENDOFTEXT,
              "model_max_length": 1000000000000000019884624838656, "clean_up_tokenization_spaces": False}
    strict_json.write(folder / "tokenizer_config.json", config)
    return folder


def paper_state_dict(model: GatedQwen3ForCausalLM) -> dict[str, torch.Tensor]:
    """The weights under the paper's names, bf16, contiguous, on the CPU (the tied ``lm_head`` left out)."""
    state = {k: v.detach().to("cpu", torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    expected = paper_weight_shapes(model.config)
    validate_paper_weights({k: tuple(v.shape) for k, v in state.items()}, model.config, where="export")
    return {k: state[k] for k in sorted(expected)}


def export_checkpoint(model: GatedQwen3ForCausalLM, config_dict: dict[str, Any], folder: Path, *,
                      tokenizer_dir: Path, card: str) -> dict[str, str]:
    """Write the folder; return ``{file: sha256}`` of the checksummed files (also written to SHA256SUMS)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(paper_state_dict(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    strict_json.write(folder / "config.json", config_dict)
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, folder / name)
    sums = {name: sha256_file(folder / name) for name in CHECKSUMMED}
    (folder / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    (folder / "MODEL_CARD.md").write_text(card)
    return sums


@torch.no_grad()
def check_roundtrip(model: GatedQwen3ForCausalLM, folder: Path, *, device: str, tokens: torch.Tensor) -> dict[str, Any]:
    """Load ``folder`` with the project's loader; its weights must equal ``model``'s cast to bf16, bit for bit.

    Also reports the max |logit difference| between the loaded bf16 model and the
    fp32 model in memory (rounding to bf16 only, so small but not zero).
    """
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    loaded = load(SourceSpec(path=str(folder)), dtype="bfloat16", device=device, hash_weights=False)
    if loaded.kind != "paper-gated":
        raise RuntimeError(f"{folder} loaded as {loaded.kind!r}, not through the paper-format path")
    ours = paper_state_dict(model)
    theirs = {k: v.to("cpu") for k, v in loaded.model.state_dict().items() if k in ours}
    differing = sorted(k for k in ours if k not in theirs or not torch.equal(ours[k], theirs[k]))
    if differing:
        raise RuntimeError(f"{folder}: reloaded weights differ from the trained ones: {differing[:3]}")
    was_training = model.training
    model.eval()
    a = model(input_ids=tokens, use_cache=False).logits.float()
    b = loaded.model(input_ids=tokens, use_cache=False).logits.float()
    model.train(was_training)
    return {"weights_identical": True, "max_abs_logit_diff_vs_fp32": float((a - b).abs().max())}
