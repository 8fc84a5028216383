"""Run 9's FlashAttention-4 64K/128K unit with its host time outside the batches as run 10 measured it.

    python results/bench/run10/host_swap.py results/bench/run9/main/yarn1.json results/bench/run10/yarn1.json OUT.json
"""
import json, sys
from evalsuite import strict_json
src, host, out = sys.argv[1], sys.argv[2], sys.argv[3]
rec = json.load(open(src))
unit = rec["n1"]["units"]["1B_baseline-yarn4/ruler_es"]
w = unit["work"]
outside = lambda w: w["generate_s"] - sum(b["setup_s"] + b["prefill_s"] + b["decode_s"] for b in w["batches"])
new = outside(json.load(open(host))["n1"]["units"]["1B_baseline-yarn4/ruler_es"]["work"])
cut = outside(w) - new
w["generate_s"] -= cut
unit["seconds"] -= cut
rec["n1"]["run10_host_s"] = {"run9": cut + new, "run10": new}
strict_json.write(out, rec)
print(f"outside the batches: {cut + new:.2f} s -> {new:.2f} s")
