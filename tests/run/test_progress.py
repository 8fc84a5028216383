"""The suite's progress line: items/s, an ETA priced by the cost model, plain lines off a terminal."""

from __future__ import annotations

import io

import torch

from evalsuite.engine.cost import request_costs
from evalsuite.run.progress import SuiteProgress, fmt_duration


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


UNITS = [("a/hs", "hs"), ("b/hs", "hs"), ("a/mmlu", "mmlu"), ("b/mmlu", "mmlu")]


def _progress(tty: bool, verbosity: str = "normal") -> tuple[SuiteProgress, io.StringIO, Clock]:
    out, clock = io.StringIO(), Clock()
    return SuiteProgress(units=UNITS, verbosity=verbosity, stream=out, tty=tty, clock=clock), out, clock


def test_eta_comes_from_the_calibrated_cost_of_finished_work():
    p, out, clock = _progress(tty=False)
    p.start_unit(1, "a/hs", "hs")
    assert p.eta_s() == (None, 0)  # nothing measured yet
    p.add_requests([1.0] * 10)  # 10 cost-model seconds
    clock.t = 20.0
    p.advance(5, 5.0)  # half the cost in 20 s: 4 wall s per cost s
    eta, unpriced = p.eta_s()
    # this unit's rest (5 x 4) + b/hs at the same cost (10 x 4); the two mmlu units are not priced yet
    assert (eta, unpriced) == (60.0, 2)
    clock.t = 40.0
    p.advance(5, 5.0)
    p.end_unit()
    p.start_unit(2, "b/hs", "hs")
    # b/hs priced by a/hs's cost at the calibrated 4 s per cost s; the two mmlu units at the mean unit (40 s)
    assert p.eta_s() == (40.0 + 2 * 40.0, 2)
    assert "suite: 1/4 units (1 ran) · suite ETA 2m00s (2 units of unstarted tasks at the mean unit's time)" \
        in out.getvalue()
    assert "[1/4] a/hs · 0/10 items, 0.0 items/s" in out.getvalue()
    p.add_requests([1.0] * 4)
    clock.t = 100.0
    p.advance(2, 2.0)  # 2 items in 60 s: slow items read as seconds per item
    assert "2/4 items, 30 s/item" in p.status_text()


def test_plain_lines_are_rate_limited_and_a_terminal_redraws_in_place():
    p, out, clock = _progress(tty=False)
    p.start_unit(1, "a/hs", "hs")
    p.add_requests([1.0] * 100)
    for i in range(50):  # 50 updates within a minute: at most one progress line
        clock.t = float(i)
        p.advance(1, 1.0)
    assert out.getvalue().count("\n") == 1 and "items/s" in out.getvalue()
    t, tout, _ = _progress(tty=True)
    t.start_unit(1, "a/hs", "hs")
    t.add_requests([1.0] * 4)
    t.line("[1/4] a/hs: running")
    assert tout.getvalue().count("\r\x1b[2K") >= 2 and "[1/4] a/hs: running\n" in tout.getvalue()


def test_quiet_shows_only_errors():
    p, out, _ = _progress(tty=False, verbosity="quiet")
    p.start_unit(1, "a/hs", "hs")
    p.add_requests([1.0])
    p.line("[1/4] a/hs: running")
    p.line("[1/4] a/hs: error: model path /x does not exist")
    assert out.getvalue() == "[1/4] a/hs: error: model path /x does not exist\n"


def test_requests_are_priced_by_the_models_shape():
    from evalsuite.engine.cost import CostModel

    cm = CostModel.paper_1p7b()
    cost = request_costs("score", [(100, 0), (4000, 0)], object())  # unreadable: the paper's shape
    assert cost == [cm.prefill_s(100), cm.prefill_s(4000)]
    gen = request_costs("generate_chars", [(400, 32)], object())
    assert gen == [cm.prefill_s(100) + cm.decode_s(100, 32)]
    small = torch.nn.Linear(2, 2)  # a module without a config: priced as the paper's shape too
    assert request_costs("score", [(10, 0)], small) == [cm.prefill_s(10)]


def test_durations_read_as_a_person_would():
    assert [fmt_duration(x) for x in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]


def test_each_task_is_paced_by_its_own_measurements():
    # Scoring ran at 1 wall s per cost s; decoding runs 50x further from the roofline: the generation unit's
    # rest and its task's next unit follow its own pace, not the scoring calibration.
    units = [("a/hs", "hs"), ("a/ruler", "ruler"), ("b/ruler", "ruler")]
    out, clock = io.StringIO(), Clock()
    p = SuiteProgress(units=units, stream=out, tty=False, clock=clock)
    p.start_unit(1, "a/hs", "hs")
    p.add_requests([1.0] * 10)
    clock.t = 10.0
    p.advance(10, 10.0)
    p.end_unit()
    p.start_unit(2, "a/ruler", "ruler")
    p.add_requests([1.0] * 4)
    clock.t = 110.0
    p.advance(2, 2.0)  # 100 s for 2 cost s: 50 s per cost s
    assert p.eta_s() == (2 * 50.0 + 4 * 50.0, 0)

