"""One progress display for a whole suite: units done/total, the current unit, items/s and an ETA.

A paper suite runs for hours on a GPU; its user wants one line that says how far
it is and when it will end, not a bar per library per unit. The ETA comes from
the scheduler's request cost model (:class:`evalsuite.engine.cost.CostModel`):
each request the adapter receives is priced in roofline seconds from its token
counts (loglikelihood: a prefill of context + continuation; generation: the
prompt's prefill plus the decode of ``max_gen_toks``), and the display learns
how many wall seconds a cost-model second takes on this machine from the work
already done. Remaining work is the current unit's unfinished requests plus, for
each pending unit, the cost its task had on a finished unit (the same requests);
a unit of a task that has not started yet is guessed at the mean wall time of the
units so far, and the line says how many are. On a terminal the line redraws in place; elsewhere (CI logs) it
prints plain lines: one per unit and at most one progress line a minute.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, TextIO

Verbosity = Literal["quiet", "normal", "verbose"]
PLAIN_EVERY_S = 60.0  # progress lines in a log: often enough to see life, rare enough to read


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass
class _Unit:
    key: str
    task: str
    cost_s: float = 0.0  # priced requests (cost-model seconds)
    done_cost_s: float = 0.0
    items: int = 0
    done_items: int = 0
    started: float = 0.0


@dataclass
class SuiteProgress:
    """The suite's progress line. The runner calls :meth:`start_unit` / :meth:`end_unit`; the adapter
    calls :meth:`add_requests` when a batch of requests arrives and :meth:`advance` as they finish."""

    units: Sequence[tuple[str, str]]  # (key "model/task", task) in run order
    verbosity: Verbosity = "normal"
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    tty: bool | None = None
    clock: Callable[[], float] = time.monotonic
    _index: int = 0
    _current: _Unit | None = None
    _task_cost: dict[str, float] = field(default_factory=dict)  # task -> cost of its last finished unit
    _task_rate: dict[str, float] = field(default_factory=dict)  # task -> wall s per cost s of its last unit
    _wall_per_cost: float | None = None
    _spent_wall: float = 0.0  # wall seconds of the units that ran to the end
    _spent_cost: float = 0.0
    _last_plain: float = float("-inf")
    _drawn: bool = False
    _ended: int = 0  # units that ran to the end

    def __post_init__(self) -> None:
        if self.tty is None:
            self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._t0 = self.clock()

    # -- what the runner says ------------------------------------------------------------------------
    def start_unit(self, index: int, key: str, task: str) -> None:
        self._index = index
        self._current = _Unit(key=key, task=task, started=self.clock())
        if self.tty:
            self._draw()

    def end_unit(self) -> None:
        """The current unit ran to the end: its pace calibrates the ETA and its cost prices its task's other
        units. (The runner's own line says how it ended; in a log the suite line follows it.)"""
        u = self._current
        if u is not None and u.cost_s > 0:
            wall = self.clock() - u.started
            self._task_cost[u.task] = u.cost_s
            self._task_rate[u.task] = wall / u.cost_s
            self._spent_wall += wall
            self._spent_cost += u.cost_s
            self._wall_per_cost = self._spent_wall / self._spent_cost
        self._current = None
        self._ended += 1
        if not self.tty:
            self._draw(force=True)

    def line(self, text: str) -> None:
        """A permanent line (kept above the redrawn progress line on a terminal)."""
        if self.verbosity == "quiet" and not text.split(": ", 1)[-1].startswith(("error", "not_run")):
            return
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    # -- what the adapter says ------------------------------------------------------------------------
    def add_requests(self, costs: Sequence[float]) -> None:
        if self._current is not None:
            self._current.cost_s += sum(costs)
            self._current.items += len(costs)
            self._draw()

    def advance(self, items: int, cost_s: float) -> None:
        if self._current is not None:
            self._current.done_items += items
            self._current.done_cost_s += cost_s
            self._draw()

    # -- the estimate ------------------------------------------------------------------------------------
    def eta_s(self) -> tuple[float | None, int]:
        """(seconds left, pending units whose task has not started). Those are priced at the mean wall time of
        the units that ran (before any ran, they are left out and counted); None before any calibration.

        Wall seconds per cost-model second are taken per task (its finished units, or the running unit's own
        pace), since scoring and decoding sit at different distances from the roofline; the pace of all
        finished work stands in for a task with no measurement yet."""
        u = self._current
        live = (self.clock() - u.started) / u.done_cost_s if u is not None and u.done_cost_s > 0 else None

        def rate_of(task: str) -> float | None:
            return self._task_rate.get(task) or (live if u is not None and u.task == task else None) \
                or self._wall_per_cost

        left, unpriced = 0.0, 0
        if u is not None:  # its own requests once they arrived, else what its task cost on another model
            rate = live or rate_of(u.task)
            if rate is None:
                return None, 0
            left = ((u.cost_s or self._task_cost.get(u.task, 0.0)) - u.done_cost_s) * rate
        elif self._wall_per_cost is None:
            return None, 0
        for _, task in self.units[self._index:]:  # the units after the current one (index is 1-based)
            # A task is priced by its last finished unit, or by the running one (its requests are all known).
            price = self._task_cost.get(task) or (u.cost_s if u is not None and u.task == task else None)
            rate = rate_of(task)
            if price and rate:
                left += price * rate
            else:
                unpriced += 1
        if unpriced and self._ended:  # a task not started yet: as long as the mean unit so far (a guess, said so)
            left += unpriced * self._spent_wall / self._ended
        return left, unpriced

    def status_text(self) -> str:
        """``[3/18] model/task · 120/228 items, 41.0 items/s · suite ETA 12m05s · elapsed 3m10s`` while a unit
        runs; ``suite: 3/18 units · ...`` between units."""
        u = self._current
        parts = [f"[{self._index}/{len(self.units)}] {u.key}" if u else
                 f"suite: {self._index}/{len(self.units)} units ({self._ended} ran)"]
        if u is not None and u.items:
            elapsed = max(self.clock() - u.started, 1e-9)
            rate = u.done_items / elapsed
            pace = f"{rate:.1f} items/s" if rate >= 1 or not u.done_items else f"{1 / rate:.0f} s/item"
            parts.append(f"{u.done_items}/{u.items} items, {pace}")
        eta, unpriced = self.eta_s()
        if eta is not None:
            guess = f" ({unpriced} units of unstarted tasks at the mean unit's time)" if unpriced and self._ended else (
                f" (+{unpriced} units not yet priced)" if unpriced else "")
            parts.append(f"suite ETA {fmt_duration(eta)}{guess}")
        parts.append(f"elapsed {fmt_duration(self.clock() - self._t0)}")
        return " · ".join(p for p in parts if p)

    # -- drawing ------------------------------------------------------------------------------------------
    def _draw(self, force: bool = False) -> None:
        if self.verbosity == "quiet":
            return
        text = self.status_text()
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self._drawn = True
        elif force or self.clock() - self._last_plain >= PLAIN_EVERY_S:
            self.stream.write(text + "\n")
            self._last_plain = self.clock()
        self.stream.flush()

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[2K")
            self._drawn = False

    def close(self) -> None:
        self._clear()
        self.stream.flush()


class SuiteConsole:
    """What ``evalsuite run`` shows: the suite's progress line (:class:`SuiteProgress`) and the runner's unit
    lines on the console, library noise in ``<run>/console.log`` (:mod:`evalsuite.run.quiet`).
    ``quiet``: errors only (and the end-of-run table); ``verbose``: the libraries' own output as well."""

    def __init__(self, verbosity: Verbosity = "normal", stream: TextIO | None = None) -> None:
        self.verbosity = verbosity
        self.stream = stream if stream is not None else sys.stderr
        self.progress: SuiteProgress | None = None
        self._noise: Any = None

    def begin(self, run_dir: Any, units: Sequence[tuple[str, str]]) -> SuiteProgress:
        """Once the run folder and the units are known: start the display and send library noise to the file."""
        from pathlib import Path

        from evalsuite.run.quiet import library_noise_to

        self.progress = SuiteProgress(units=units, verbosity=self.verbosity, stream=self.stream)
        self._noise = library_noise_to(Path(run_dir) / "console.log", verbose=self.verbosity == "verbose")
        self._noise.__enter__()
        return self.progress

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
        if self._noise is not None:
            noise, self._noise = self._noise, None
            noise.__exit__(None, None, None)
