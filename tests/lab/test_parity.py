"""Per-sample parity with stock lm-eval's hf backend on the real 135M model and real items (fp32, CPU).

The full-size figures (200 MMLU, 200 HellaSwag, 10 WikiText documents) come from
``python -m evalsuite.lab parity``; this keeps a small sample of each in every CI run.
"""

from __future__ import annotations

from evalsuite.lab.parity import fp32_ulp, run_parity, within


def test_tolerance_is_absolute_until_fp32_cannot_resolve_it():
    assert within(-2.5, -2.5 + 9e-5, 1e-4) and not within(-2.5, -2.5 + 2e-4, 1e-4)
    # A WikiText document sum: stock's fp32 spacing at 37,000 is 2^-8, far above 1e-4.
    assert fp32_ulp(-37000.0) == 2.0 ** -8
    assert within(-37000.0033, -37000.0, 1e-4)  # 0.85 ulp: below stock's own resolution
    assert not within(-37000.01, -37000.0, 1e-4)  # 2.6 ulps: a real difference


def test_parity_with_stock_hf_backend(smollm2, real_data_dir):
    model, tok = smollm2
    rows = run_parity(model, tok, data_dir=real_data_dir,
                      tasks={"es_mmlu_high_school_biology": (6, 5), "es_mmlu_anatomy": (4, 5),
                             "es_hellaswag": (12, 0), "es_wikitext": (1, 0)})
    for r in rows:
        assert r.n_items > 0
        assert r.n_outside_tolerance == 0 and r.decisions_identical, r
        if r.task != "es_wikitext":  # per-choice log-likelihoods are small: plain 1e-4
            assert r.max_abs_delta <= 1e-4, r
