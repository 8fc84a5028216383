"""One loader for every model source: a local HF folder, a hub id (+ subfolder), a GGUF file.

The paper's released checkpoints (``model_type: qwen3`` with gate flags and an
``auto_map`` to remote code) are dispatched to the native gated implementation;
remote code is never executed: an ``auto_map`` to code is refused before any
transformers call, and every ``from_pretrained`` passes ``trust_remote_code=False``
(so transformers never reaches its interactive "[y/N]" prompt). GGUF files are dequantised once and cached as an
HF folder, because transformers' GGUF conversion (tokenizer included) costs
~15 s per load on a 2-core machine.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from evalsuite import strict_json
from evalsuite.errors import EvalsuiteError, ModelLoadError
from evalsuite.models.builtin import materialize, smollm2_gguf  # noqa: F401  (smollm2_gguf: the tests' model)
from evalsuite.models.placement import Sharded, check_placed, dispatch_paper_model, from_pretrained_kwargs
from evalsuite.paths import cache_root
from evalsuite.spec.source import SourceSpec
from evalsuite.spec.yarn import YarnSpec

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    if name not in _DTYPES:
        raise ModelLoadError(f"unknown dtype {name!r}; use one of float32, bfloat16, float16")
    return _DTYPES[name]


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def weight_files(folder: Path) -> list[Path]:
    """The files whose bytes define the model, for the manifest's hashes."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)


def resolve_local_folder(source: SourceSpec) -> Path:
    """A local folder (or GGUF file) holding the model, downloading from the hub only when online."""
    source = materialize(source)
    if source.path is not None:
        folder = Path(source.path).expanduser()
        if folder.is_file() and folder.suffix == ".gguf":
            return folder
        if not folder.exists():
            raise ModelLoadError(f"model path {folder} does not exist")
        return folder / source.subfolder if source.subfolder else folder
    try:
        from huggingface_hub import snapshot_download

        pattern = [f"{source.subfolder}/*"] if source.subfolder else None
        root = Path(snapshot_download(source.hub, revision=source.revision, allow_patterns=pattern))
    except Exception as exc:  # offline, unknown repo, gated repo: one line, named
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "HF_HUB_OFFLINE=1 and it is not in the local cache" if offline else type(exc).__name__
        raise ModelLoadError(f"cannot fetch hub model {source.hub!r}: {why}") from None
    folder = root / source.subfolder if source.subfolder else root
    if not folder.exists():
        raise ModelLoadError(f"hub model {source.hub!r} has no subfolder {source.subfolder!r}")
    return folder / source.gguf if source.gguf else folder


def gguf_as_hf_folder(gguf_path: Path) -> Path:
    """Dequantise a GGUF file once into a cached HF folder (fp32 safetensors + tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not gguf_path.is_file():
        raise ModelLoadError(f"GGUF file {gguf_path} does not exist")
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    out = cache_root() / "gguf" / f"{gguf_path.stem}-{key}"
    if (out / ".complete").exists():
        return out
    try:
        kw = {"gguf_file": gguf_path.name, "trust_remote_code": False}
        tok = AutoTokenizer.from_pretrained(gguf_path.parent, **kw)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kw)
    except Exception as exc:
        raise ModelLoadError(f"cannot read GGUF file {gguf_path}: {type(exc).__name__}: {exc}") from None
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    # The weights are already dequantised to fp32; drop the GGUF marker so they can be saved as safetensors.
    model.hf_quantizer = None
    model.is_quantized = False
    model.config.__dict__.pop("quantization_config", None)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "evalsuite_source.json").write_text(strict_json.dumps({"gguf": str(gguf_path.resolve()),
                                                                "sha256": sha256_file(gguf_path)}, where=str(tmp)))
    (tmp / ".complete").touch()
    tmp.rename(out) if not out.exists() else None
    return out


def _read_config(folder: Path) -> dict[str, Any]:
    cfg = folder / "config.json"
    if not cfg.exists():
        raise ModelLoadError(f"{folder} has no config.json (not a Hugging Face model folder)")
    try:
        return json.loads(cfg.read_text())
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{cfg}: invalid JSON at line {exc.lineno}") from None


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for evaluation, with what the manifest must record about it."""

    model: torch.nn.Module
    tokenizer: Any
    folder: Path
    weights_sha256: dict[str, str]
    kind: str  # "hf", "gguf" or "paper-gated"


def load(source: SourceSpec, *, dtype: str | torch.dtype = "float32", device: str = "cpu",
         attn_implementation: str = "sdpa", yarn: YarnSpec | None = None, hash_weights: bool = True,
         placement: Sharded | None = None) -> LoadedModel:
    """Load any supported source; the single path the runner, the adapter, diagnostics, the lab and notebooks
    share. ``placement=Sharded(max_tokens)`` splits the model over this rank's GPUs instead of moving it to
    ``device`` (a model or a 128K KV cache too large for one GPU, :mod:`evalsuite.models.placement`); every
    check (remote code refused, weights present, errors named) is the same either way."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalsuite.models.paper_format import is_paper_format, load_paper_checkpoint
    from evalsuite.models.yarn import apply_yarn

    torch_dtype = parse_dtype(dtype)
    folder = resolve_local_folder(source)
    kind = "hf"
    gguf_origin: Path | None = None
    if folder.suffix == ".gguf":
        gguf_origin = folder
        folder, kind = gguf_as_hf_folder(gguf_origin), "gguf"
    config = _read_config(folder)
    if not weight_files(folder):
        raise ModelLoadError(f"{folder} has no weight files (*.safetensors or *.bin)")
    refuse_remote_code(folder, config)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the tokenizer in {folder}: {type(exc).__name__}") from None
    budget = None
    if is_paper_format(config):
        model = load_paper_checkpoint(folder, dtype=torch_dtype, device=device if placement is None else "cpu",
                                      attn_implementation=attn_implementation, yarn=yarn)
        kind = "paper-gated"
        if placement is not None:
            budget = placement.budget(model.config, torch_dtype)
            model = dispatch_paper_model(model, budget, torch_dtype)
    else:
        try:
            from transformers import AutoConfig

            hf_config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
            if yarn is not None:
                apply_yarn(hf_config, yarn)
            if placement is not None:
                budget = placement.budget(hf_config, torch_dtype)
                kwargs = from_pretrained_kwargs(budget, dtype=torch_dtype, attn_implementation=attn_implementation)
            else:
                kwargs = {"dtype": torch_dtype, "attn_implementation": attn_implementation, "trust_remote_code": False}
            model = AutoModelForCausalLM.from_pretrained(folder, config=hf_config, **kwargs)
        except EvalsuiteError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"cannot load weights from {folder}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        if placement is None:
            model.to(device)
    if budget is not None:
        check_placed(model, folder, budget)
    model.eval()
    hashed = [gguf_origin] if gguf_origin is not None else weight_files(folder)
    hashes = {p.name: sha256_file(p) for p in hashed} if hash_weights else {}
    return LoadedModel(model=model, tokenizer=tokenizer, folder=folder, weights_sha256=hashes, kind=kind)


def refuse_remote_code(folder: Path, config: dict[str, Any]) -> None:
    """ModelLoadError when the folder's model or tokenizer exists only as remote code (an ``auto_map`` and no
    class transformers has natively). Checked from the JSON alone, before transformers sees the folder."""
    from evalsuite.models.paper_format import is_paper_format

    if config.get("auto_map") and not is_paper_format(config) and config.get("model_type") not in _native_model_types():
        raise ModelLoadError(f"{folder}: model_type {config.get('model_type')!r} needs remote code, which evalsuite "
                             "never runs")
    tok_path = folder / "tokenizer_config.json"
    try:
        tok_config = json.loads(tok_path.read_text()) if tok_path.exists() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelLoadError(f"{tok_path}: invalid JSON") from None
    if isinstance(tok_config, dict) and tok_config.get("auto_map") and not _native_tokenizer(tok_config):
        raise ModelLoadError(f"{tok_path}: tokenizer class {tok_config.get('tokenizer_class')!r} needs remote code, "
                             "which evalsuite never runs")


def _native_tokenizer(tok_config: dict[str, Any]) -> bool:
    import transformers

    name = tok_config.get("tokenizer_class")
    return isinstance(name, str) and (hasattr(transformers, name) or hasattr(transformers, name + "Fast")
                                      or hasattr(transformers, name.removesuffix("Fast")))


def _native_model_types() -> set[str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return set(CONFIG_MAPPING_NAMES)


def load_model(source: str | os.PathLike[str] | SourceSpec, *, dtype: str | torch.dtype = "float32",
               device: str = "cpu", yarn: YarnSpec | None = None, subfolder: str | None = None,
               attn_implementation: str = "sdpa") -> tuple[torch.nn.Module, Any]:
    """Public API: ``(model, tokenizer)`` from a folder, a ``.gguf`` file or a hub id (``org/name``)."""
    if not isinstance(source, SourceSpec):
        source = SourceSpec.from_string(str(source), subfolder=subfolder)
    loaded = load(source, dtype=dtype, device=device, yarn=yarn, attn_implementation=attn_implementation,
                  hash_weights=False)
    return loaded.model, loaded.tokenizer
