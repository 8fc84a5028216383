"""Run 11's records with FlashAttention-4's check (paid once a process) recorded as ``kernel_check_s``.

The records were made before the engine counted the kernels' checks apart (``kernels.check_seconds``), so the
pricing scaled the check with the requests. In the gated models' process the first 64K/128K unit spent 6.03 s
inside ``generate_until`` outside its batches and the second, same code and machine, 0.57 s: the check took
5.46 s. That figure is set as ``kernel_check_s`` on the first unit of each process, where the check ran (a
process's first kernel choice): the 64K/128K units of yarn1 and gyarn1 (headwise), WikiText of native1 and
gnative1 (headwise).

    python results/bench/run11/check_once.py results/bench/run11 results/bench/run11/priced/checked
"""
import json
import sys
from pathlib import Path

from evalsuite import strict_json

CHECK_S = 6.03 - 0.57
FIRST = {"yarn1": "1B_baseline-yarn4/ruler_es", "gyarn1": "1B_gate_headwise-yarn4/ruler_es",
         "native1": "1B_baseline/es_wikitext", "gnative1": "1B_gate_headwise/es_wikitext"}
src, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for name, key in FIRST.items():
    rec = json.loads((src / f"{name}.json").read_text())
    work = rec["n1"]["units"][key]["work"]
    assert "kernel_check_s" not in work, f"{name}: {key} recorded its check already"
    work["kernel_check_s"] = CHECK_S
    rec["n1"]["check_once"] = {"unit": key, "kernel_check_s": CHECK_S}
    strict_json.write(out / f"{name}.json", rec)
    print(f"{name}: {key} kernel_check_s = {CHECK_S:.2f}")
