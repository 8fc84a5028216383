"""Run 6: the suite engine keys calls 2 and 3 measure, from call 1's record (``/tmp/run6-flex.json``).

``decode_attention=flex`` if FlexAttention's step was faster than ``split`` on both the 4K batch and the 128K
sample; ``compile_prefill=true`` if, with flex, the compiled prefill was faster on both too. Prints the
``--engine`` arguments (none: the defaults)."""
import json
import sys

try:
    w = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "/tmp/run6-flex.json"))["workloads"]
except (OSError, KeyError, ValueError):
    sys.exit(0)


def faster(a: str, b: str) -> bool:
    return all(f"flex{n}_{a}" in w and f"flex{n}_{b}" in w
               and w[f"flex{n}_{a}"]["seconds"] < w[f"flex{n}_{b}"]["seconds"] for n in ("4k", "128k"))


args = []
if faster("flex", "split"):
    args.append("--engine decode_attention=flex")
    if faster("flex_compiled_prefill", "flex"):
        args.append("--engine compile_prefill=true")
print(" ".join(args))
