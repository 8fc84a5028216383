"""The page's plots: one panel per comparison group, one colour per variant, legends outside the data,
and the forest plot of deltas with the paper's marked."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.colors import to_hex

from tests.conftest_records import BASE, GATED, ModelPlan, diagnostics_extra, write_run
from evalsuite.report.publish._collect import gather
from evalsuite.diagnostics import plots as diagnostics_plots
from evalsuite.report.publish._plots import comparison_groups


@pytest.fixture(scope="module")
def captured(monkeypatch_module) -> list:
    figures: list = []
    plots = diagnostics_plots
    monkeypatch_module.setattr(plots, "_save", lambda fig, path: figures.append(fig) or Path(path))
    return figures


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_variant_colours_and_groups(captured: list) -> None:
    plots = diagnostics_plots
    results = {"b1": diagnostics_extra(ModelPlan("b1", seed=1)),
               "b1-elementwise": diagnostics_extra(ModelPlan("b1-elementwise", gate="elementwise", seed=2)),
               "b2": diagnostics_extra(ModelPlan("b2", seed=3)),
               "b2-headwise": diagnostics_extra(ModelPlan("b2-headwise", gate="headwise", seed=4))}
    plots.plot_first_token_share(results, "unused.png", [["b1", "b1-elementwise"], ["b2", "b2-headwise"]])
    fig = captured[-1]
    axes = [ax for ax in fig.axes if ax.get_lines()]
    assert len(axes) == 2  # one panel per comparison group
    colours = {line.get_label().split(" ")[0]: to_hex(line.get_color()) for ax in axes for line in ax.get_lines()}
    assert colours["b1"] == colours["b2"] == plots.VARIANT_COLORS["baseline"]
    assert colours["b1-elementwise"] == plots.VARIANT_COLORS["elementwise"]
    assert colours["b2-headwise"] == plots.VARIANT_COLORS["headwise"]
    for ax in axes:  # the legend sits right of the axes, not over the data
        assert ax.get_legend().get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1


def test_comparison_groups_and_forest_plot(tmp_path: Path) -> None:
    headwise = ModelPlan("headwise", role="gated", skill=0.02, gate="headwise", seed=3)
    run_dir = write_run(tmp_path, [BASE, GATED, headwise])
    lb = gather([run_dir], n_resamples=200, seed=0, correction="holm")
    assert comparison_groups(lb) == [["base", "gated", "headwise"]]
    from evalsuite.report.publish._plots import _forest_plot
    out = _forest_plot(lb, tmp_path / "forest.png")
    assert out is not None and out.read_bytes()[:4] == b"\x89PNG"
