"""Per-sample parity with stock lm-eval's hf backend on the real 135M model and real items (fp32, CPU).

The full-size figures (200 MMLU, 200 HellaSwag, 10 WikiText documents) come from
``evalsuite parity``; this keeps a small sample of each in every CI run.
"""

from __future__ import annotations

from evalsuite.parity import run_parity


def test_parity_with_stock_hf_backend(smollm2, real_data_dir):
    model, tok = smollm2
    rows = run_parity(model, tok, data_dir=real_data_dir,
                      tasks={"es_mmlu_high_school_biology": (6, 5), "es_mmlu_anatomy": (4, 5),
                             "es_hellaswag": (12, 0), "es_wikitext": (1, 0)})
    for r in rows:
        assert r.n_items > 0
        assert r.max_abs_delta <= 1e-4, r
        assert r.decisions_identical, r
