"""Cost-balanced assignment: LPT's makespan bound, shared contexts kept together, the cost model's ratios."""

from __future__ import annotations

import itertools
import random

import pytest

from evalsuite.engine.cost import CostModel, TokenEstimator
from evalsuite.run.distributed.balance import (
    chunk_budget,
    chunk_groups,
    group_by_context,
    lpt_assign,
    plan_shards,
)


def _optimum(costs: list[float], m: int) -> float:
    best = float("inf")
    for owner in itertools.product(range(m), repeat=len(costs) - 1):  # job 0 on rank 0: symmetry
        loads = [0.0] * m
        for c, r in zip(costs, (0, *owner)):
            loads[r] += c
        best = min(best, max(loads))
    return best


@pytest.mark.parametrize("m", [2, 3])
def test_lpt_makespan_is_within_grahams_bound_of_the_optimum(m: int) -> None:
    rng = random.Random(m)
    for _ in range(12):
        costs = [rng.choice([1.0, 30.0]) * rng.uniform(0.5, 2.0) for _ in range(8)]
        owner, loads = lpt_assign(costs, m)
        assert loads == pytest.approx([sum(c for c, r in zip(costs, owner) if r == k) for k in range(m)])
        assert max(loads) <= (4 / 3 - 1 / (3 * m)) * _optimum(costs, m) + 1e-9
        assert max(loads) <= sum(costs) / m + (1 - 1 / m) * max(costs) + 1e-9


def test_lpt_known_case_and_determinism() -> None:
    # The classic tight example for m=2: LPT gives 3+2+2 | 3+2 = 7, the optimum 3+3 | 2+2+2 = 6.
    owner, loads = lpt_assign([3, 3, 2, 2, 2], 2)
    assert max(loads) == 7 and _optimum([3, 3, 2, 2, 2], 2) == 6 and 7 <= (4 / 3 - 1 / 6) * 6 + 1e-9
    assert lpt_assign([5, 5, 5, 5], 4) == ([0, 1, 2, 3], [5.0] * 4)  # ties: by index, then by rank
    with pytest.raises(ValueError):
        lpt_assign([1.0], 0)


def test_requests_sharing_a_context_stay_on_one_rank() -> None:
    rng = random.Random(0)
    contexts = [" ".join(["w"] * rng.randint(5, 2000)) for _ in range(30)]
    args = [(c, f" ending {k}") for c in contexts for k in range(4)]
    rng.shuffle(args)
    assert sorted(map(len, group_by_context(args))) == [4] * 30
    plan = plan_shards("loglikelihood", args, 4, tokens=lambda s: len(s.split()), model=CostModel.paper_1p7b(),
                       max_length=4096, batch_tokens=512)
    where: dict[str, set[int]] = {}
    for a, r in zip(args, plan.owner):
        where.setdefault(a[0], set()).add(r)
    assert all(len(ranks) == 1 for ranks in where.values())
    assert set(plan.owner) == {0, 1, 2, 3} and plan.imbalance < 4 / 3
    again = plan_shards("loglikelihood", args, 4, tokens=lambda s: len(s.split()), model=CostModel.paper_1p7b(),
                        max_length=4096, batch_tokens=512)
    assert again == plan  # every rank computes the same plan on its own
    for world in (1, 2, 3, 7):  # the chunks (inner-LM calls) do not depend on the number of ranks
        other = plan_shards("loglikelihood", args, world, tokens=lambda s: len(s.split()),
                            model=CostModel.paper_1p7b(), max_length=4096, batch_tokens=512)
        assert other.chunks == plan.chunks and len(other.loads_s) == world


def test_chunks_fill_a_budget_of_whole_groups() -> None:
    assert chunk_groups([5, 1, 9, 3, 3], 8) == [[2], [0, 3], [4, 1]]  # largest first; a big group alone
    assert chunk_budget(1e9, 2.0) == 16.0 and chunk_budget(1.0, 2.0) == 2.0
    assert chunk_budget(128 * 5.0, 2.0) == 5.0  # ~128 chunks in between


def test_one_long_ruler_sample_gets_a_rank_of_its_own() -> None:
    model = CostModel.paper_1p7b()
    gen = {"max_gen_toks": 128, "until": []}
    args = [("x " * 131072, gen)] + [("x " * 4096 + str(i), gen) for i in range(60)]  # distinct contexts
    plan = plan_shards("generate_until", args, 2, tokens=lambda s: len(s) / 2, model=model, max_length=131072)
    # The 128K sample costs ~26 of the 4K ones: its rank takes only 17 of the 60 others.
    assert plan.owner.count(plan.owner[0]) - 1 == 17
    assert plan.imbalance < 1.05


def test_cost_model_ratios_match_the_documented_numbers() -> None:
    m = CostModel.paper_1p7b()
    assert m.prefill_s_per_token == pytest.approx(3.58e-6, rel=0.01)
    assert m.attention_s_per_token_sq == pytest.approx(1.456e-10, rel=0.01)
    assert m.prefill_s(131072) / m.prefill_s(4096) == pytest.approx(174, rel=0.02)  # "~170x"
    ruler = [m.prefill_s(t) + m.decode_s(t, 128) for t in (4096, 131072)]
    assert ruler[1] == pytest.approx(3.5, rel=0.02) and ruler[0] == pytest.approx(0.134, rel=0.02)
    assert ruler[1] / ruler[0] == pytest.approx(26, rel=0.03)  # "~26x"
    # Rolling windows: beyond max_length the cost grows linearly, not quadratically.
    assert m.rolling_s(8192, 4096) == pytest.approx(2 * m.rolling_s(4096, 4096))


def test_cost_model_from_a_loaded_model(tiny_folder) -> None:
    from evalsuite.models.loader import load
    from evalsuite.spec import SourceSpec

    model = load(SourceSpec(path=str(tiny_folder("headwise"))), hash_weights=False).model
    m = CostModel.from_model(model)
    cfg = model.config
    assert m.attention_s_per_token_sq == pytest.approx(2 * cfg.num_hidden_layers * 4 * 16 / 790e12)
    assert m.decode_s_per_token_per_context == pytest.approx(2 * cfg.num_hidden_layers * 2 * 16 * 4 / 4.3e12)
    assert CostModel.from_model(object()) == CostModel.paper_1p7b()


def test_token_estimator_calibrates_on_the_tokenizer() -> None:
    texts = ["aaaa bbbb cccc"] * 100  # 14 characters, 3 "tokens"
    est = TokenEstimator(lambda s: s.split(), texts)
    assert est("aaaa bbbb cccc") == pytest.approx(3.0)
    assert TokenEstimator(None, texts)("abcd" * 10) == 10.0  # 4 characters per token without a tokenizer
