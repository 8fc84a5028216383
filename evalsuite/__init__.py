"""evalsuite: reproduce the benchmarks of *Gated Attention for LLMs* with paired statistics."""

from __future__ import annotations

__version__ = "0.1.0"
