"""The benchmark's bench-only switch for the non-finite check: ``--variants nocheck,check`` times the scorer with
the check off and on again in one process (issue 18: its cost on the GPU), with or without stock."""

from __future__ import annotations

import json

from evalsuite.lab.bench.config import SCORING_VARIANTS


def test_variant_lm_sets_the_scoring_field(tiny_folder):
    from evalsuite.lab.bench.harness import variant_lm
    from evalsuite.models.loader import load_model

    model, tok = load_model(str(tiny_folder("none")), dtype="float32", device="cpu")
    off = variant_lm(model, tok, SCORING_VARIANTS["nocheck"], max_length=512)
    on = variant_lm(model, tok, SCORING_VARIANTS["check"], max_length=512)
    assert off.engine.check_finite is False and on.engine.check_finite is True
    assert variant_lm(model, tok, SCORING_VARIANTS["eager"], max_length=512).engine.compile_scoring is False


def test_check_on_off_on_without_stock(tmp_path):
    from evalsuite.families.miniature import write_miniature
    from evalsuite.lab.bench.cli import main

    data = write_miniature(tmp_path / "mini")
    code = main(["--preset", "tiny", "--data", str(data), "--out", str(tmp_path / "out"), "--parts", "scoring",
                 "--only", "hellaswag", "--no-stock", "--variants", "nocheck,check", "--name", "finite"])
    rec = json.loads((tmp_path / "out" / "finite.json").read_text())
    assert code == 0, rec["errors"]
    w = rec["workloads"]["hellaswag"]
    assert "stock" not in w
    for key in ("evalsuite", "evalsuite_nocheck", "evalsuite_check"):
        assert w[key]["items"] == 4 and w[key]["seconds"] > 0, key
    assert "variant nocheck" in (tmp_path / "out" / "README.md").read_text()
