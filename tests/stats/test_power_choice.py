"""The companion each accuracy shows is the one the committed power table chooses (results/stats/power.md)."""

from __future__ import annotations

from pathlib import Path

from evalsuite.lab.bench.power import (CHOICE_HEADING, EFFECTS, choice_section, choose_companions, read_power_table,
                                   with_choice, with_section)
from evalsuite.compare.choices import COMPANION_FOR

TABLE = Path(__file__).resolve().parents[2] / "results" / "stats" / "power.md"


def test_committed_table_chooses_the_leaderboards_companions() -> None:
    text = TABLE.read_text()
    rows = read_power_table(text)
    assert len(rows) == 21 and all(set(r) == {"aa", *EFFECTS} for r in rows.values())
    choice = choose_companions(rows)
    assert {metric: pick for metric, (pick, _, _) in choice.items()} == COMPANION_FOR
    assert choice_section(text) in text  # the section in the file is what its table gives


def test_choice_follows_the_fair_effects_not_the_gold_shift() -> None:
    head = "| MMLU acc | 14,042 | 14.5% | {} | 5.0% | {} | – | {} | – |"
    text = "\n".join([head.format("p(gold)", "60.0%", "70.0%"), head.format("margin", "99.0%", "60.0%")])
    assert choose_companions(read_power_table(text))["mmlu_acc"][0] == "pgold"  # the shift's 99 % is no judge
    text = "\n".join([head.format("p(gold)", "60.0%", "70.0%"), head.format("margin", "50.0%", "80.0%")])
    assert choose_companions(read_power_table(text))["mmlu_acc"][0] == "margin"
    text = "\n".join([head.format("p(gold)", "60.0%", "70.0%"), head.format("margin", "50.0%", "72.0%")])
    assert choose_companions(read_power_table(text))["mmlu_acc"][0] == "pgold"  # a tie stays p(gold)
    assert with_choice(with_choice(text)) == with_choice(text)


def test_sections_are_replaced_not_stacked() -> None:
    text = with_choice("# table\n\n| MMLU acc | 14,042 | 14.5% | p(gold) | 5.0% | 60.0% | – | 70.0% | – |\n")
    once = with_section(text, "## Extra", "## Extra\n\nfirst\n")
    twice = with_section(once, "## Extra", "## Extra\n\nsecond\n")
    assert "first" not in twice and twice.count("## Extra") == 1 and twice.count(CHOICE_HEADING) == 1
    assert twice.index("## Extra") < twice.index(CHOICE_HEADING)
