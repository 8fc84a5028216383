"""Where a zoo model came from (:class:`Provenance`) and its ``MODEL_CARD.md``."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalsuite.lab.zoo.config import TrainConfig
    from evalsuite.lab.zoo.train import TrainRecord

_PACKAGE = Path(__file__).resolve().parent
# The code whose bytes decide a trained model: the trainer and the model it trains.
_CODE = (*sorted(p.name for p in _PACKAGE.glob("*.py")),)
_MODEL_CODE = ("gated_qwen3.py", "convert.py", "paper_format.py")


def code_sha256() -> str:
    """sha256 over the zoo package's and the model's source files (names and bytes), in a fixed order."""
    h = hashlib.sha256()
    files = [_PACKAGE / n for n in _CODE] + [_PACKAGE.parents[1] / "models" / n for n in _MODEL_CODE]
    for path in files:
        h.update(f"{path.parent.name}/{path.name}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Provenance:
    """What a trio was trained with, beyond its TrainConfig."""

    command: str
    commit: str  # the project commit the code came from, as given on the command line
    data_parts: dict[str, str]  # file name -> sha256
    heldout: dict[str, str]
    tokenizer: str  # where tokenizer.json came from, and why
    tokenizer_sha256: str
    corpus_tokens: int
    corpus_books: int
    code_sha256: str = field(default_factory=code_sha256)
    versions: dict[str, str] = field(default_factory=dict)
    hardware: str = ""

    @classmethod
    def collect(cls, **kwargs: Any) -> "Provenance":
        import tokenizers
        import torch
        import transformers

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
        versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                    "tokenizers": tokenizers.__version__, "python": platform.python_version()}
        return cls(versions=versions, hardware=gpu, **kwargs)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def model_card(name: str, record: "TrainRecord", cfg: "TrainConfig", prov: Provenance) -> str:
    """MODEL_CARD.md for one trained variant: how exactly it was produced, and what it scored while training."""
    shape = cfg.shape
    held = record.final_heldout or {}
    parts = "\n".join(f"  - `{n}` sha256 `{h}`" for n, h in prov.data_parts.items())
    heldout = "\n".join(f"  - `{n}` sha256 `{h}`" for n, h in prov.heldout.items())
    spikes = record.spikes or {}
    return f"""# {name}

A {record.n_parameters / 1e6:.2f}M-parameter Qwen3-style decoder with the attention output gate
**{record.gate}** (Qiu et al. 2025, arXiv 2505.06708), pretrained from scratch for evalsuite's mini
replication (issue 8). Stored in the paper's on-disk format (`model_type: qwen3`, `use_qk_norm`,
`headwise_attn_output_gate` / `elementwise_attn_output_gate`, widened `q_proj` grouped per KV head),
bf16 safetensors, tied embeddings. Load with `evalsuite.models.loader.load` or in a suite as
`{{builtin: zoo/{name}}}` when it ships in `evalsuite/assets/zoo/`. It is a research toy: its
scores show the harness's plumbing and the gate's signatures at mini scale, nothing more.

## Architecture

| | |
|---|---|
| layers / hidden | {shape.layers} / {shape.hidden} |
| query heads / KV heads / head dim | {shape.heads} / {shape.kv_heads} / {shape.head_dim} |
| FFN (SwiGLU) | {record.ffn} |
| vocabulary | {shape.vocab} (SmolLM2 BPE), embeddings tied |
| parameters | {record.n_parameters:,} ({record.n_non_embedding:,} without the embedding) |
| RoPE theta | {shape.rope_theta:g}; trained at {cfg.seq_len} tokens, config advertises {shape.max_position_embeddings} (unscaled RoPE past {cfg.seq_len} is extrapolation) |

## How it was produced

- command: `{prov.command}`
- code: project commit `{prov.commit}`; sha256 of the trainer and model sources (`evalsuite.lab.zoo.card.code_sha256`) `{prov.code_sha256}`
- data: Project Gutenberg books (`../shared/data/corpus/gutenberg`, public domain), {prov.corpus_books} books,
  {prov.corpus_tokens:,} tokens with an `<|endoftext|>` after each book, packed into {cfg.seq_len + 1}-token chunks
  (stride {cfg.seq_len}), chunk order a permutation seeded by (seed, epoch):
{parts}
- held-out: 
{heldout}
- tokenizer: {prov.tokenizer}; `tokenizer.json` sha256 `{prov.tokenizer_sha256}`
- seed {cfg.seed} (initial weights drawn per parameter name, so the baseline, headwise and elementwise models
  share every weight whose shape agrees, query rows of `q_proj` included; the same data order for all three)
- optimiser: AdamW (betas {cfg.betas[0]}, {cfg.betas[1]}; weight decay {cfg.weight_decay} on matrices), peak lr {record.lr:g}
  after {cfg.warmup_steps} warmup steps, cosine to {cfg.min_lr_ratio:g} x peak; gradient clip {cfg.grad_clip};
  bf16 autocast, fp32 master weights{"; torch.compile" if cfg.compile else ""}
- steps {cfg.steps}, batch {cfg.batch_size} x {cfg.seq_len} = {cfg.tokens_per_step:,} tokens; {record.tokens:,} tokens seen
  ({record.epochs:.2f} epochs)
- hardware {prov.hardware}; {", ".join(f"{k} {v}" for k, v in prov.versions.items())}

## What training measured

| | |
|---|---|
| final train loss (mean of the last 50 steps) | {record.final_train_loss:.4f} nats/token |
| held-out books loss / perplexity | {held.get("loss", float("nan")):.4f} / {held.get("perplexity", float("nan")):.2f} ({held.get("tokens", 0):,} tokens, {held.get("documents", 0)} books) |
| wall time of the training steps | {record.train_seconds:.1f} s |
| throughput | {record.tokens_per_s:,.0f} tokens/s |
| MFU | {record.mfu:.1%} (6 x {record.n_parameters:,} x tokens / s / 790 TFLOP/s) |
| loss spikes | {spikes.get("count_by_threshold", {})} (a step more than X nats above the median of the previous 50; X = 0.2 is the stated threshold) |

Files: `config.json`, `model.safetensors`, `tokenizer.json`, `tokenizer_config.json` (their sha256 in
`SHA256SUMS`; bos = eos = pad = `<|endoftext|>`, id 0, the document separator used in training).
"""
