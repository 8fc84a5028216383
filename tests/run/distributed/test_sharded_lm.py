"""ShardedLM over in-process ranks: results come back in the original order, identical to one process."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from lm_eval.api.model import LM

from evalsuite.run.distributed import DistributedRun, ShardedLM, ShardFailedError
from evalsuite.run.distributed.sharded_lm import RequestMismatchError
from evalsuite.errors import DataError


@dataclass
class Req:
    args: tuple[Any, ...]


class FakeLM(LM):
    """Deterministic answers that depend on the request only; remembers what it was asked."""

    max_length = 512

    def __init__(self, fail: BaseException | None = None) -> None:
        super().__init__()
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        self.calls: list[tuple[tuple[Any, ...], ...]] = []  # the requests of each call, as a batch
        self.rolling_token_counts: dict[str, int] = {}
        self.fail = fail

    def tok_encode(self, text: str) -> list[int]:
        return [0] * len(text.split())

    def _answer(self, method: str, requests: list[Req]) -> list[Any]:
        if self.fail is not None:
            raise self.fail
        self.seen += [(method, r.args) for r in requests]
        self.calls.append(tuple(r.args for r in requests))
        return [f"{method}:{r.args!r}" for r in requests]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        return [(-float(len(a)), len(a) % 2 == 0) for a in self._answer("ll", requests)]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        for r in requests:
            self.rolling_token_counts[r.args[0]] = len(r.args[0].split())
        return [-float(len(a)) for a in self._answer("rolling", requests)]

    def generate_until(self, requests, disable_tqdm: bool = False):
        return self._answer("gen", requests)


def _ll_requests(seed: int = 0) -> list[Req]:
    """12 contexts of very different lengths, 4 continuations each, interleaved as lm-eval may order them."""
    rng = random.Random(seed)
    reqs = [Req((" ".join(["w"] * rng.choice([3, 30, 300, 3000])) + f" ctx{c}", f" choice {k}"))
            for c in range(12) for k in range(4)]
    rng.shuffle(reqs)
    return reqs


def _run(thread_group, world: int, method: str, requests_for, make_inner=FakeLM):
    inners = [make_inner() for _ in range(world)]

    def rank_fn(rank: int, comm) -> Any:
        lm = ShardedLM(inners[rank], comm=comm, batch_tokens=64)  # small chunks: every rank gets some
        return lm, getattr(lm, method)(requests_for(rank))

    return inners, thread_group(world).run(rank_fn)


@pytest.mark.parametrize("world", [2, 3])
def test_gather_restores_order_and_equals_one_process(thread_group, world: int) -> None:
    reqs = _ll_requests()
    reference = FakeLM().loglikelihood(reqs)
    inners, outs = _run(thread_group, world, "loglikelihood", lambda r: reqs)
    for lm, result in outs:
        assert result == reference  # every rank, original order
        assert lm.rank == 0 and lm.world_size == 1  # what lm-eval sees
    shares = [[args for _, args in inner.seen] for inner in inners]
    assert sorted(a for s in shares for a in s) == sorted(r.args for r in reqs)  # each request exactly once
    assert all(shares), "every rank got work"
    owner_of_context = {}
    for rank, share in enumerate(shares):
        for call in inners[rank].calls:
            positions = [reqs.index(Req(a)) for a in call]
            assert positions == sorted(positions)  # each inner call keeps the original relative order
        for ctx, _ in share:
            assert owner_of_context.setdefault(ctx, rank) == rank  # a context's continuations stay together
    plan = outs[0][0].last_plan
    assert plan.imbalance < 1.34  # LPT on 12 groups of very unequal size
    # The same inner calls (same batches) as one wrapped process: the root of bit-identical results.
    single, _ = _run(thread_group, 1, "loglikelihood", lambda r: reqs)
    assert sorted(c for inner in inners for c in inner.calls) == sorted(single[0].calls)


def test_rolling_token_counts_are_gathered_and_generation_is_ordered(thread_group) -> None:
    docs = [Req((" ".join(["tok"] * n),)) for n in (5, 400, 17, 90, 3, 250)]
    inners, outs = _run(thread_group, 2, "loglikelihood_rolling", lambda r: docs)
    for lm, result in outs:
        assert result == FakeLM().loglikelihood_rolling(docs)
        assert lm.rolling_token_counts == {d.args[0]: len(d.args[0].split()) for d in docs}
    assert all(inner.rolling_token_counts == {} for inner in inners)  # harvested, not accumulated
    gens = [Req((f"prompt {i} " + "x " * (50 * i), {"until": ["."], "max_gen_toks": 8 * (i + 1)})) for i in range(7)]
    _, outs = _run(thread_group, 3, "generate_until", lambda r: gens)
    assert all(result == FakeLM().generate_until(gens) for _, result in outs)


def test_an_error_on_one_rank_is_raised_on_every_rank(thread_group) -> None:
    reqs = _ll_requests()
    for error in (DataError("es_x: not run: file missing"), ValueError("boom")):
        inners = [FakeLM(), FakeLM(fail=error), FakeLM()]
        outs = thread_group(3).run(lambda r, comm: ShardedLM(inners[r], comm=comm, batch_tokens=64).loglikelihood(reqs))
        assert outs[1] is error  # the failing rank: its own exception, traceback and all
        for other in (outs[0], outs[2]):
            if isinstance(error, DataError):  # a user error: same class and message, so the runner records it
                assert type(other) is DataError and str(other) == str(error)
            else:  # a bug: named with the rank it happened on
                assert isinstance(other, ShardFailedError) and "rank 1" in str(other) and "boom" in str(other)


def test_ranks_with_different_requests_fail_loudly(thread_group) -> None:
    outs = thread_group(2).run(lambda r, comm: ShardedLM(FakeLM(), comm=comm).loglikelihood(_ll_requests(seed=r)))
    assert all(isinstance(o, RequestMismatchError) for o in outs)


def test_single_process_is_a_passthrough_and_attributes_forward() -> None:
    inner = FakeLM()
    lm = ShardedLM(inner)  # no process group: one rank
    reqs = _ll_requests()
    assert lm.loglikelihood(reqs) == FakeLM().loglikelihood(reqs)
    assert sorted(a for _, a in inner.seen) == sorted(r.args for r in reqs)
    assert lm.max_length == 512 and lm.tok_encode("a b") == [0, 0] and lm.inner is inner


def test_hooks_decide_wrap_and_placement(thread_group) -> None:
    def rank_fn(rank: int, comm) -> Any:
        dist = DistributedRun(rank=rank, world_size=2, comm=comm)
        assert dist.device("cpu") == "cpu" and dist.runs_unit("lm_eval")
        assert dist.runs_unit("diagnostics") == (rank == 0) and dist.is_main == (rank == 0)
        return dist.decide(lambda: f"from rank {rank}"), isinstance(dist.wrap(FakeLM()), ShardedLM)

    assert thread_group(2).run(rank_fn) == [("from rank 0", True)] * 2
    single, inner = DistributedRun(), FakeLM()
    assert single.wrap(inner).inner is inner and single.decide(lambda: 7) == 7 and single.is_main


class _CountingComm:
    rank, world_size, barriers = 1, 2, 0

    def barrier(self) -> None:
        self.barriers += 1


def test_unit_scope_shows_lm_eval_one_process_and_waits_only_on_success(monkeypatch) -> None:
    import os

    monkeypatch.setenv("LOCAL_RANK", "3")
    comm = _CountingComm()
    dist = DistributedRun(rank=1, world_size=2, local_rank=3, comm=comm)  # type: ignore[arg-type]
    with dist.unit_scope():
        assert os.environ["LOCAL_RANK"] == "0"  # lm-eval's simple_evaluate returns results only then
    assert os.environ["LOCAL_RANK"] == "3" and comm.barriers == 1
    with pytest.raises(DataError), dist.unit_scope():
        raise DataError("x")
    assert os.environ["LOCAL_RANK"] == "3" and comm.barriers == 1  # no barrier a lone failing rank would hang in
