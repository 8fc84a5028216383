"""The GPU benchmark: evalsuite's lm-eval adapter against stock lm-eval's ``hf`` backend, side by side.

One process builds paper-shaped random models on the device, runs each
workload through both backends on the same model object and items, and
records wall time, requests/s, useful tokens/s, MFU (:mod:`.flops`), peak
memory and the agreement of the numbers (:mod:`.agreement`). ``evalsuite
bench --preset tiny`` runs the same path on CPU in seconds (CI).
"""

from evalsuite.bench.config import BenchConfig, preset
from evalsuite.bench.run import run_bench

__all__ = ["BenchConfig", "preset", "run_bench"]
