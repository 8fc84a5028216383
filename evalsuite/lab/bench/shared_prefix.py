"""What the batched engine's shared prefixes skip, computed from the prompts alone (no model, no GPU).

The protocol's limit (:mod:`evalsuite.lab.bench.protocol`) and its pricing (:mod:`evalsuite.lab.bench.protocol_run`
``--shares``) need the prefill FLOPs that ``share_prefix`` skips at the full protocol's counts, where the measured
runs hold a sample or two per task and barely share.
"""

from __future__ import annotations

from typing import Sequence

from evalsuite.lab.bench.flops import ModelShape, causal_keys, forward_flops


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def token_order_shares(prompts: Sequence[Sequence[int]], minimum: int | None = None) -> list[int]:
    """Per prompt (in the given order), the tokens whose K/V the batched engine copies rather than prefills
    (``share_prefix``, :mod:`evalsuite.engine.batch_decode`): in token order, each prompt's common prefix with the
    prompt before it (in that order the longest with any earlier one), at most all but its last token, none below
    ``minimum`` (the engine's :data:`~evalsuite.engine.batch_decode.MIN_SHARED_PREFIX`). The engine reaches it
    whenever the prompt before is still held in a row of the cache, which its batches guarantee; run 9's counts
    equal it exactly.

    Token ids as big-endian unsigned bytes sort as the lists of ids do (the engine's order), and compare as arrays:
    a length's 1,100 prompts of 128K tokens would take gigabytes as lists of Python ints."""
    import numpy as np

    from evalsuite.engine.batch_decode import MIN_SHARED_PREFIX

    minimum = MIN_SHARED_PREFIX if minimum is None else minimum
    arrays = [np.asarray(p, dtype=">u4") for p in prompts]
    order = sorted(range(len(arrays)), key=lambda i: arrays[i].tobytes())
    out = [0] * len(arrays)
    for before, i in zip(order, order[1:]):
        a, b = arrays[i], arrays[before]
        n = min(len(a) - 1, len(b))
        differ = np.flatnonzero(a[:n] != b[:n])
        k = int(differ[0]) if len(differ) else n
        out[i] = k if k >= minimum else 0
    return out


def prefill_flops(shape: ModelShape, prompt: int, shared: int = 0) -> float:
    """The forward FLOPs of a prompt's prefill past its first ``shared`` tokens (their K/V copied): its last
    position's head included, as the cost model counts a prompt."""
    return forward_flops(shape, tokens=prompt - shared, attended_keys=causal_keys(shared, prompt), head_positions=1)
