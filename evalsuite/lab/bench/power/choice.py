"""The companion each accuracy shows, chosen from the power table's text, and the page's sections.

:func:`read_power_table` reads the main table back; :func:`choose_companions` picks,
per accuracy metric, the companion with the higher worst power over the fair effect
models (``evalsuite.compare.choices``'s COMPANION_FOR must agree:
tests/stats/test_power_choice.py); :func:`with_choice` / :func:`with_section` rewrite
a section of ``power.md`` in place, the choice always last.
"""

from __future__ import annotations

import math

from evalsuite.lab.bench.power.effects import EFFECTS
from evalsuite.lab.bench.power.table import _pct, _test_text


# Each accuracy metric: the table's scenarios that speak for it, and whether the page clusters it.
CHOICE_SCENARIOS: dict[str, tuple[tuple[str, ...], bool]] = {
    "mmlu_acc": (("MMLU acc",), False),
    "hellaswag_acc": (("HellaSwag acc", "HellaSwag acc, real pair (mini small-lr2 baseline / elementwise)"), True),
    "hellaswag_acc_norm": (("HellaSwag acc_norm",), True),
}
FAIR_EFFECTS = ("sharpen", "swap", "mix")  # the gold shift favours the margin by construction: not a judge
TIE = 0.03  # within Monte-Carlo error of 400 draws: p(gold) stays (bounded, read as a probability)
CHOICE_HEADING = "## The choice"


def read_power_table(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """{(scenario, test text): {"aa" | effect: rate}} from ``power.md``'s main table (NaN for "–")."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 + len(EFFECTS) or not cells[1].replace(",", "").isdigit():
            continue
        def rate(cell: str) -> float:
            value = cell.split()[0] if cell and cell != "–" else ""
            return float(value.rstrip("%")) / 100 if value else math.nan
        out[(cells[0], cells[3])] = {"aa": rate(cells[4]), **{e: rate(c) for e, c in zip(EFFECTS, cells[5:])}}
    return out


def choose_companions(rows: dict[tuple[str, str], dict[str, float]]) -> dict[str, tuple[str, float, float]]:
    """{accuracy metric: (companion, its worst fair power, the other's)}: the companion whose lowest power over
    the fair effect models (and the metric's scenarios, clustered where the page clusters) is higher; within
    :data:`TIE`, p(gold)."""
    out = {}
    for metric, (scenarios, clustered) in CHOICE_SCENARIOS.items():
        worst = {}
        for kind in ("pgold", "margin"):
            test = _test_text(kind + ("_clustered" if clustered else ""))
            powers = [rows[(sc, test)][e] for sc in scenarios for e in FAIR_EFFECTS if (sc, test) in rows]
            worst[kind] = min((p for p in powers if math.isfinite(p)), default=math.nan)
        pick = "margin" if worst["margin"] > worst["pgold"] + TIE else "pgold"
        out[metric] = (pick, worst[pick], worst["margin" if pick == "pgold" else "pgold"])
    return out


def choice_section(text: str) -> str:
    """The markdown section that states the choice the table supports (``evalsuite.compare.choices``'s
    COMPANION_FOR must agree: tests/stats/test_power_choice.py)."""
    lines = [CHOICE_HEADING, "",
             "Per accuracy metric, the companion whose **lowest** power over the effect models that favour no "
             f"score by construction ({', '.join(FAIR_EFFECTS)}; the gold shift is shown, not used) and over the "
             "metric's scenarios (clustered tests where the leaderboard clusters) is higher; within "
             f"{100 * TIE:.0f} points, p(gold) (bounded, read as a probability).", "",
             "| accuracy | companion | its worst fair power | the other's |", "|:---|:---|---:|---:|"]
    for metric, (pick, mine, other) in choose_companions(read_power_table(text)).items():
        lines.append(f"| {metric} | {pick} | {_pct(mine)} | {_pct(other)} |")
    return "\n".join(lines) + "\n"


def with_choice(text: str) -> str:
    """``text`` with its choice section (re)written at the end."""
    head = text.split("\n" + CHOICE_HEADING)[0].rstrip("\n")
    return head + "\n\n" + choice_section(head)


def with_section(text: str, heading: str, section: str) -> str:
    """``text`` with the section under ``heading`` replaced (or added before the choice section)."""
    parts = text.split("\n" + CHOICE_HEADING)
    head = parts[0].split("\n" + heading)[0].rstrip("\n")
    tail = ("\n" + CHOICE_HEADING + parts[1]) if len(parts) > 1 else ""
    return head + "\n\n" + section.rstrip("\n") + "\n" + tail
