"""Where a model comes from, the one type: a suite's ``source:`` and lm-eval's ``pretrained=`` both become a
:class:`SourceSpec`, and the loader (:func:`evalsuite.models.loader.load`) opens any of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import ModelLoadError


@dataclass(frozen=True)
class SourceSpec:
    """Exactly one of: a local ``path``, a ``hub`` id (+ ``subfolder``, ``revision``), a ``gguf`` file, a
    ``builtin`` model the project ships (``smollm2`` or ``zoo/<name>``), or a tiny seeded model
    (``tiny_gate``, ``tiny_seed``). ``gguf`` beside ``hub`` names a GGUF file inside the hub folder."""

    path: str | None = None
    hub: str | None = None
    subfolder: str | None = None
    revision: str | None = None
    gguf: str | None = None
    builtin: str | None = None
    tiny_gate: str | None = None
    tiny_seed: int = 0

    @classmethod
    def from_string(cls, text: str, *, subfolder: str | None = None, gguf_file: str | None = None) -> "SourceSpec":
        """lm-eval's ``pretrained=``: an existing local path, else a hub id (``org/name``); anything else does
        not exist. ``gguf_file`` names a GGUF file inside that folder (lm-eval's ``hf`` argument of that name)."""
        if Path(text).expanduser().exists():
            if gguf_file is not None:
                folder = Path(text) / subfolder if subfolder else Path(text)
                return cls(gguf=str(folder / gguf_file))
            return cls(path=text, subfolder=subfolder)
        if text.count("/") == 1 and not text.startswith((".", "/", "~")):
            return cls(hub=text, subfolder=subfolder, gguf=gguf_file)
        raise ModelLoadError(f"model path {text} does not exist")

    def describe(self) -> str:
        if self.tiny_gate is not None:
            return f"tiny:{self.tiny_gate}-seed{self.tiny_seed}"
        if self.builtin is not None:
            return f"builtin:{self.builtin}"
        base = self.path or (f"hub:{self.hub}" + (f"/{self.subfolder}" if self.subfolder else "") if self.hub
                             else self.gguf or "")
        return base + (f" [{self.gguf}]" if self.hub and self.gguf else "")

    def as_record(self) -> dict[str, Any]:
        """The fields as the unit hash and the manifest have always serialised them."""
        return asdict(self)
