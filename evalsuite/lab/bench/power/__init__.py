"""The statistics' lab: real per-item vectors, A/A calibration and the power of McNemar vs p(gold).

``python -m evalsuite.lab.bench.power fixture`` pulls the compact per-item vectors
the calibration tests resample out of run records — per-choice log-likelihoods,
the gold index, choice lengths, and integer codes for the MMLU subject and the
HellaSwag activity (derived numbers, no benchmark text) — into one ``.npz``.
``python -m evalsuite.lab.bench.power table`` simulates the paper's effect sizes at
the real n from it and writes ``results/stats/power.md``.

How a simulated comparison is built from one real model's per-item choice
scores ``S`` (items x choices):

1. resample to the real n: MMLU within each subject to its real test size
   (14,042 in all); HellaSwag by whole activity clusters until 10,042 items;
2. two exchangeable models: ``S + e_ref`` and ``S + e_cand`` with independent
   Gaussian noise per choice whose sigma is set so that the two accuracies
   disagree on a chosen fraction of items (the discordance; the issue's 15 %);
3. a true effect: the candidate's gold score is raised by the shift that moves
   its expected accuracy by the paper's delta (+0.5 MMLU, +0.8 HellaSwag points);
4. every test on the same draw: exact McNemar on the accuracy, and the
   sign-flip test of the p(gold) and of the margin companion (HellaSwag also
   over activity clusters).

The real-pair A/A design (:func:`cluster_swap`) uses two real models' vectors:
for each cluster a fair coin decides whether the two models trade places, so
the null holds exactly while the real within-cluster dependence is kept.

Modules, imports flowing down this list: ``vectors`` (ItemVectors, the fixture's
reader, resampling to the real n), ``effects`` (the A/A noise, the true effects,
the real-pair swap), ``simulate`` (the tests' p-values, one scenario's rejection
rates), ``fixture`` (the ``.npz`` from run records), ``table`` (``power.md``'s
main table), ``choice`` (the companion the table chooses, the page's sections),
``interaction`` (the RULER length trend's A/A section), ``cli``.
"""

from __future__ import annotations

from evalsuite.lab.bench.power.choice import (CHOICE_HEADING, CHOICE_SCENARIOS, FAIR_EFFECTS, TIE, choice_section,
                                              choose_companions, read_power_table, with_choice, with_section)
from evalsuite.lab.bench.power.cli import main
from evalsuite.lab.bench.power.effects import (EFFECT_TEXT, EFFECTS, apply_effect, calibrate_effect, cluster_swap,
                                               noise_for_discordance)
from evalsuite.lab.bench.power.fixture import make_fixture
from evalsuite.lab.bench.power.interaction import INTERACTION_HEADING, interaction_aa, interaction_section
from evalsuite.lab.bench.power.simulate import (ALPHA, TESTS, Scenario, binomial_upper, mcnemar_p, signflip_p,
                                                simulate)
from evalsuite.lab.bench.power.table import power_table
from evalsuite.lab.bench.power.vectors import (SUBJECTS, ItemVectors, load_fixture, resample_clusters,
                                               resample_strata)

__all__ = [
    "ALPHA", "CHOICE_HEADING", "CHOICE_SCENARIOS", "EFFECTS", "EFFECT_TEXT", "FAIR_EFFECTS", "INTERACTION_HEADING",
    "SUBJECTS", "TESTS", "TIE", "ItemVectors", "Scenario", "apply_effect", "binomial_upper", "calibrate_effect",
    "choice_section", "choose_companions", "cluster_swap", "interaction_aa", "interaction_section", "load_fixture",
    "main", "make_fixture", "mcnemar_p", "noise_for_discordance", "power_table", "read_power_table",
    "resample_clusters", "resample_strata", "signflip_p", "simulate", "with_choice", "with_section",
]
