"""``ShardedLM``: data parallelism at the request level, under an unchanged lm-eval pipeline.

Every rank runs the same ``simple_evaluate`` over all documents (the wrapper
reports rank 0 of 1, so lm-eval does not shard documents itself and builds the
same request list everywhere). In each of ``loglikelihood``,
``loglikelihood_rolling`` and ``generate_until`` the wrapper

1. groups the requests by context string (the inner LM scores a shared context
   once, so a context's continuations must stay on one rank), packs the groups
   into chunks that do not depend on the number of ranks, and splits the chunks
   across ranks by estimated cost (:mod:`evalsuite.run.distributed.balance`);
2. runs the inner LM once per chunk of this rank's share;
3. ``all_gather_object``\\s (request indices, results, a digest of the request
   list, any error) and returns the results in the original order on every rank.

Each chunk is the same inner-LM call whatever the world size, so a request is
batched with the same neighbours and every number is bit-identical between 1
and N processes — provided the 1-process run is wrapped too (``DistributedRun.wrap``
wraps at every world size). Against the *unwrapped* adapter, which scores a whole
request list in one call, log-likelihoods differ by float rounding only (the
packed scorer's sums move ~1e-7 relative with a request's batch company, as they
do when ``limit`` or ``batch_tokens`` change); greedy generations, decoded one
request at a time by the current adapter, do not depend on the company. If the inner LM raises on any rank, every rank raises:
the failing rank its own exception, the others the same ``EvalsuiteError``
class and message (or :class:`ShardFailedError` for a bug), so the runner takes
the same branch everywhere and no rank is left waiting in a collective.
"""

from __future__ import annotations

import hashlib
import importlib
import traceback
from dataclasses import dataclass
from typing import Any, Sequence

from lm_eval.api.model import LM

from evalsuite.engine.cost import CostModel, TokenEstimator
from evalsuite.run.distributed.balance import ShardPlan, plan_shards
from evalsuite.run.distributed.process import Collective, TorchCollective
from evalsuite.errors import EvalsuiteError

class ShardFailedError(RuntimeError):
    """Another rank's inner LM raised something that is not an ``EvalsuiteError`` (a bug, or out of memory)."""


class RequestMismatchError(RuntimeError):
    """Ranks built different request lists: lm-eval's pipeline was not deterministic across processes."""


@dataclass(frozen=True)
class _Failure:
    rank: int
    module: str
    qualname: str
    message: str
    traceback: str

    def exception(self, method: str) -> BaseException:
        try:
            cls = getattr(importlib.import_module(self.module), self.qualname)
        except (ImportError, AttributeError):
            cls = None
        if isinstance(cls, type) and issubclass(cls, EvalsuiteError):
            try:
                return cls(self.message)
            except TypeError:
                pass
        return ShardFailedError(f"rank {self.rank} failed in {method}: {self.qualname}: {self.message}\n"
                                f"{self.traceback}")


@dataclass(frozen=True)
class _Share:
    """What one rank contributes to the gather: small, picklable, never the Instance objects."""

    digest: str
    indices: list[int]
    results: list[Any] | None
    token_counts: dict[str, int]
    failure: _Failure | None


def _digest(method: str, args: Sequence[tuple[Any, ...]]) -> str:
    h = hashlib.sha256(method.encode())
    for a in args:
        h.update(repr(a).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


class ShardedLM(LM):
    """Wrap an lm-eval ``LM`` so that its requests are split across the ranks of the process group."""

    def __init__(self, inner: LM, *, comm: Collective | None = None, cost_model: CostModel | None = None,
                 batch_tokens: int | None = None) -> None:
        super().__init__()  # rank 0, world size 1: what lm-eval must see
        self._inner = inner
        self._comm = comm if comm is not None else TorchCollective()
        self.cost_model = cost_model or CostModel.from_model(getattr(inner, "model", None))
        # Chunk sizes follow the inner LM's batch (EvalsuiteLM.engine.batch_tokens) so chunking never cuts its
        # batches short; fixed per LM, so the chunks do not change with the world size.
        engine = getattr(inner, "engine", None)
        self.batch_tokens = int(batch_tokens or getattr(engine, "batch_tokens", 0) or 8192)
        # The runner reads per-document token counts from here (token-level perplexity); gathered from all ranks.
        self.rolling_token_counts: dict[str, int] = {}
        self.last_plan: ShardPlan | None = None  # for logs and the benchmark

    @property
    def inner(self) -> LM:
        return self._inner

    # -- lm-eval's compute API -----------------------------------------------------------------------
    def loglikelihood(self, requests: list[Any], **kwargs: Any) -> list[tuple[float, bool]]:
        return self._sharded("loglikelihood", requests, kwargs)

    def loglikelihood_rolling(self, requests: list[Any], **kwargs: Any) -> list[float]:
        return self._sharded("loglikelihood_rolling", requests, kwargs)

    def generate_until(self, requests: list[Any], **kwargs: Any) -> list[str]:
        return self._sharded("generate_until", requests, kwargs)

    def _sharded(self, method: str, requests: list[Any], kwargs: dict[str, Any]) -> list[Any]:
        args = [tuple(r.args) for r in requests]
        n_ranks, me = self._comm.world_size, self._comm.rank
        # Planned at every world size, one rank included: the chunks (inner-LM calls) are what keep results
        # bit-identical between 1 and N processes.
        self.last_plan = plan = self._plan(method, args, n_ranks)
        digest = _digest(method, args) if n_ranks > 1 else ""
        share, own_error = self._run_share(method, requests, plan.chunks_of(me), kwargs, me, digest)
        shares: list[_Share] = self._comm.all_gather_object(share) if n_ranks > 1 else [share]
        results = self._assemble(method, shares, len(requests), own_error)
        for a, res in zip(args, results):
            self.cache_hook.add_partial(method, a, res)
        return results

    def _plan(self, method: str, args: list[tuple[Any, ...]], n_ranks: int) -> ShardPlan:
        encode = getattr(self._inner, "tok_encode", None)
        tokens = TokenEstimator(encode if callable(encode) else None, [a[0] for a in args if isinstance(a[0], str)])
        max_length = int(getattr(self._inner, "max_length", 0) or 2048)
        default_gen = int(getattr(self._inner, "max_gen_toks", 0) or 256)
        return plan_shards(method, args, n_ranks, tokens=tokens, model=self.cost_model, max_length=max_length,
                           batch_tokens=self.batch_tokens, default_max_gen_toks=default_gen)

    def _run_share(self, method: str, requests: list[Any], chunks: list[tuple[int, ...]], kwargs: dict[str, Any],
                   me: int, digest: str) -> tuple[_Share, Exception | None]:
        mine = [i for c in chunks for i in c]
        try:
            results: list[Any] = []
            for chunk in chunks:
                out = list(getattr(self._inner, method)([requests[i] for i in chunk], **kwargs))
                if len(out) != len(chunk):
                    raise ShardFailedError(f"rank {me}: inner {method} returned {len(out)} results for {len(chunk)}")
                results += out
        except Exception as exc:  # noqa: BLE001 -- shipped to every rank and raised there too
            failure = _Failure(rank=me, module=type(exc).__module__, qualname=type(exc).__qualname__,
                               message=str(exc), traceback=traceback.format_exc(limit=8))
            return _Share(digest, mine, None, {}, failure), exc
        counts: dict[str, int] = {}
        inner_counts = getattr(self._inner, "rolling_token_counts", None)
        if method == "loglikelihood_rolling" and isinstance(inner_counts, dict):
            for i in mine:
                text = requests[i].args[0]
                if text in inner_counts:
                    counts[text] = inner_counts.pop(text)  # harvested, so the inner dict does not grow per unit
        return _Share(digest, mine, results, counts, None), None

    def _assemble(self, method: str, shares: list[_Share], n: int, own_error: Exception | None) -> list[Any]:
        failures = [s.failure for s in shares if s.failure is not None]
        if own_error is not None:
            raise own_error
        if failures:
            raise failures[0].exception(method)
        if len({s.digest for s in shares}) > 1:
            raise RequestMismatchError(
                f"{method}: ranks built different request lists ({len({s.digest for s in shares})} distinct); "
                "every rank must run the same tasks with the same seed")
        out: list[Any] = [None] * n
        seen = [False] * n
        for s in shares:
            for i, res in zip(s.indices, s.results or []):
                if seen[i]:
                    raise RuntimeError(f"{method}: request {i} was computed on two ranks")
                out[i], seen[i] = res, True
            self.rolling_token_counts.update(s.token_counts)
        if not all(seen):
            raise RuntimeError(f"{method}: {seen.count(False)} of {n} requests were computed on no rank")
        return out

    # -- everything else is the inner LM's (tokenizer, max_length, config, chat template, ...) ------------
    @property
    def device(self) -> Any:
        return getattr(self._inner, "device", None)

    @property
    def tokenizer_name(self) -> str:
        return self._inner.tokenizer_name

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self._inner.chat_template(chat_template)

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return self._inner.apply_chat_template(chat_history, add_generation_prompt)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_inner", "_comm"):
            raise AttributeError(name)
        return getattr(self._inner, name)
