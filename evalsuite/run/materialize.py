"""Turn a suite's model spec into something the loader can open (building tiny models on demand)."""

from __future__ import annotations

from pathlib import Path

from evalsuite.errors import SpecError
from evalsuite.models.loader import ModelSource, cache_root, smollm2_gguf
from evalsuite.spec import ModelSpec

ZOO_DIR = Path(__file__).resolve().parents[1] / "assets" / "zoo"


def model_source(spec: ModelSpec) -> ModelSource:
    src = spec.source
    if src.tiny_gate is not None:
        from evalsuite.models.tiny import write_tiny_checkpoint

        folder = cache_root() / "tiny" / f"{src.tiny_gate}-seed{src.tiny_seed}"
        if not (folder / "config.json").exists():
            write_tiny_checkpoint(folder, gate=src.tiny_gate, seed=src.tiny_seed)
        return ModelSource(path=str(folder))
    if src.builtin is not None:
        if src.builtin == "smollm2":
            return ModelSource(path=str(smollm2_gguf()))
        if src.builtin.startswith("zoo/"):
            folder = ZOO_DIR / src.builtin.removeprefix("zoo/")
            if not folder.is_dir():
                known = sorted(p.name for p in ZOO_DIR.iterdir()) if ZOO_DIR.is_dir() else []
                raise SpecError(f"builtin model {src.builtin!r} is not shipped (known: {', '.join(known) or 'none'})")
            return ModelSource(path=str(folder))
        raise SpecError(f"unknown builtin model {src.builtin!r}; use 'smollm2' or 'zoo/<name>'")
    if src.gguf is not None:
        return ModelSource(path=src.gguf)
    if src.hub is not None:
        return ModelSource(hub_id=src.hub, subfolder=src.subfolder, revision=src.revision)
    return ModelSource(path=src.path, subfolder=src.subfolder)
