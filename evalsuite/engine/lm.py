"""The evalsuite LM for lm-eval (registered as ``evalsuite``).

It keeps HFLM's tokenisation semantics (``_encode_pair``, BOS handling, rolling
windows), which is what makes its per-sample numbers equal the stock ``hf``
backend's, and replaces the work around them:

* ``loglikelihood``: every pair encoded at once by :class:`~evalsuite.engine.encode.PairEncoder`
  (same tokens, distinct strings once, shared prefixes once);
* ``_loglikelihood_tokens``: one prefix tree over all requests, packed rows,
  continuation-only logits, no batch-size probing (:mod:`evalsuite.engine.loglikelihood`);
* ``loglikelihood_rolling``: the same disjoint windows as lm-eval, through the same scorer;
* ``generate_until``: greedy decoding on a static KV cache, refusing over-long
  prompts instead of left-truncating them (:mod:`evalsuite.engine.generate`); in the
  ``fast``/``compiled`` engines all requests decode together, B rows at a time
  (:mod:`evalsuite.engine.batch_decode`).

Constructing it also installs lm-eval's template cache
(:mod:`evalsuite.engine.lmeval_templates`): prompts are identical, built once per template.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any, Callable, Protocol, Sequence

import torch
from lm_eval import utils as lm_utils
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import normalize_gen_kwargs
from tqdm import tqdm

from evalsuite.errors import NonFiniteError
from evalsuite.engine import lmeval_templates
from evalsuite.engine.decode import DecodeCache
from evalsuite.engine.cost import causal_keys, request_costs
from evalsuite.engine.encode import EncodeStats, PairEncoder
from evalsuite.engine.forward import LeanDecoder
from evalsuite.engine.kernels import check_seconds, compile_seconds
from evalsuite.engine.generate import (GenerationRequest, batchable, generation_path,
                                  greedy_generate_batch, greedy_generate_tokens)
from evalsuite.engine.loglikelihood import ScoringStats, score_requests
from evalsuite.spec.engine import EngineConfig



class Progress(Protocol):
    """What the LM tells a suite's display (:class:`evalsuite.run.progress.SuiteProgress`): requests priced
    by the cost model, then done."""

    def add_requests(self, costs: Sequence[float]) -> None: ...

    def advance(self, items: int, cost_s: float) -> None: ...


@register_model("evalsuite")
class EvalsuiteLM(HFLM):
    """An lm-eval LM over a loaded model: ``EvalsuiteLM(model, tokenizer, EngineConfig(...))``, or lm-eval's
    ``--model evalsuite --model_args pretrained=...,k=v`` (:meth:`from_model_args`, the one place those strings
    are read).

    The engine's knobs are one :class:`~evalsuite.spec.engine.EngineConfig` (its docstring and fields say what
    each does); knobs left to the device (``compile_scoring``, ``generation``) are decided here, once, and
    :attr:`engine` holds the result. ``truncation="refuse"`` (the default) makes a request longer than
    ``max_length`` an error; ``"left"`` cuts its context from the left exactly as stock ``hf`` does
    (loglikelihood: the last ``max_length + 1`` tokens of context + continuation; generation: the prompt's
    last ``max_length - max_gen_toks`` tokens), and :attr:`truncated_tokens` says per context how many tokens
    were cut, so the runner can flag those samples.

    lm-eval's evaluator builds every model with ``create_from_arg_string(model_args, {"batch_size": ...,
    "max_batch_size": ..., "device": ...})``: ``device`` places a model loaded from ``pretrained=<path>``;
    ``batch_size`` and ``max_batch_size`` are accepted and ignored (:data:`IGNORED_ARGS`), because the packed
    scorer sizes its batches by tokens (``batch_tokens``), not by requests.
    """

    #: lm-eval arguments that the packed scorer has no use for (it batches by ``batch_tokens``).
    IGNORED_ARGS = ("batch_size", "max_batch_size")
    #: ``--model_args`` keys that say which model to load and how (the engine's keys are EngineConfig's fields).
    LOAD_ARGS = ("pretrained", "tokenizer", "device", "dtype", "subfolder", "gguf_file", "attn_implementation")

    def __init__(self, model: torch.nn.Module, tokenizer: Any, engine: EngineConfig = EngineConfig(), *,
                 max_length: int | None = None, **hf_kwargs: Any) -> None:
        if max_length is None:
            max_length = int(getattr(model.config, "max_position_embeddings", 2048))
        super().__init__(pretrained=model, tokenizer=tokenizer, max_length=max_length, batch_size=1, **hf_kwargs)
        self.on_cuda: bool = next(self.model.parameters()).device.type == "cuda"  # decided once, read by the runner
        self.engine: EngineConfig = engine.resolved(on_cuda=self.on_cuda)  # the knobs as they run (device defaults)
        # Side channels for the runner and the benchmark.
        self.rolling_token_counts: dict[str, int] = {}  # predicted tokens per rolling document
        self.timings: dict[str, float] = {}
        self.scoring_stats: list[ScoringStats] = []
        self.encode_stats = EncodeStats()
        self.generated_tokens: list[list[int]] = []
        self.generation_timings: list[dict[str, Any]] = []  # per request: prompt tokens (and phases, one at a time)
        self.generation_batches: list[dict[str, Any]] = []  # per batch of rows decoded together
        self.paths: dict[str, str] = {}  # request type -> the compute path that served it (for the unit record)
        self._encoder: PairEncoder | None = None
        self.truncated_tokens: dict[str, int] = {}  # context string -> most tokens cut from its left
        self.progress: Progress | None = None  # the runner's suite display; None: a tqdm bar per call
        lmeval_templates.install()

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict[str, Any] | None = None) -> "EvalsuiteLM":
        """lm-eval's ``--model_args "k=v,..."`` (its own parser guesses the types; :meth:`from_model_args` checks)."""
        return cls.create_from_arg_obj(lm_utils.simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict[str, Any],
                            additional_config: dict[str, Any] | None = None) -> "EvalsuiteLM":
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
        return cls.from_model_args({**arg_dict, **extra})

    @classmethod
    def from_model_args(cls, args: dict[str, Any]) -> "EvalsuiteLM":
        """The boundary for lm-eval's arguments: load arguments, the engine's keys (into one EngineConfig,
        validated once), ``max_length``, and anything else passed to HFLM as before."""
        from evalsuite.models.loader import load
        from evalsuite.spec.source import SourceSpec

        args = {k: v for k, v in args.items() if k not in cls.IGNORED_ARGS}
        engine_keys = {f.name for f in fields(EngineConfig)}
        engine = EngineConfig.parse({k: v for k, v in args.items() if k in engine_keys}, "--model_args",
                                    strings=True)
        load_args = {k: args.pop(k) for k in cls.LOAD_ARGS if k in args}
        max_length = args.pop("max_length", None)
        hf_kwargs = {k: v for k, v in args.items() if k not in engine_keys}
        pretrained, tokenizer = load_args.get("pretrained"), load_args.get("tokenizer")
        if isinstance(pretrained, str):  # `lm_eval --model evalsuite --model_args pretrained=...`
            device = load_args.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
            src = SourceSpec.from_string(pretrained, subfolder=load_args.get("subfolder"),
                                         gguf_file=load_args.get("gguf_file"))
            loaded = load(src, dtype=load_args.get("dtype", "float32"), device=device,
                          attn_implementation=load_args.get("attn_implementation", "sdpa"), hash_weights=False)
            pretrained, tokenizer = loaded.model, loaded.tokenizer
        return cls(pretrained, tokenizer, engine, max_length=None if max_length is None else int(max_length),
                   **hf_kwargs)

    def work_counters(self) -> dict[str, Any]:
        """What this LM has done so far, as plain counts and engine seconds (cumulative).

        The runner records each unit's difference (``extra["work"]``), so that a unit's wall time can be priced
        against the hardware later (the benchmark's cost model turns these counts into FLOPs and bytes) without
        re-tokenising its prompts. ``prompt_attended_keys`` / ``decode_attended_keys``: the keys each prompt
        token attends to, summed (a causal prefill of n tokens: n(n+1)/2), and the cached positions the decode
        steps read; ``generation_batches``: how many rows were decoded together (one per request one at a time);
        ``compile_s``: the process's compilation seconds (:func:`compile_seconds`), inside the engine seconds;
        ``kernel_check_s``: its seconds in the attention kernels' checks (:func:`check_seconds`), inside them too.
        Both are paid once per process, wherever they fall."""
        trees = [s.tree for s in self.scoring_stats]
        prompts = [int(t.get("prompt_tokens", 0)) for t in self.generation_timings]
        steps = [max(len(t) - 1, 0) for t in self.generated_tokens]
        return {
            "scored_tokens": sum(t.unique_tokens for t in trees),
            "scored_attended_keys": sum(t.attended_keys for t in trees),
            "scored_head_positions": sum(t.scored_positions for t in trees),
            "generation_requests": len(self.generated_tokens),
            "prompt_tokens": sum(prompts),
            "prompt_attended_keys": sum(causal_keys(0, n) for n in prompts),
            "generated_tokens": sum(len(t) for t in self.generated_tokens),
            "decode_steps": sum(steps),
            "decode_attended_keys": sum(causal_keys(n, n + k) for n, k in zip(prompts, steps)),
            "generation_batches": len(self.generation_batches) or len(self.generation_timings),
            **{key: self.timings.get(key, 0.0) for key in ("tokenize_s", "loglikelihood_s", "generate_s")},
            "compile_s": compile_seconds(),
            "kernel_check_s": check_seconds(),
        }

    def _add(self, key: str, seconds: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + seconds

    # -- request preparation -------------------------------------------------------------------------
    def pair_encoder(self) -> PairEncoder:
        if self._encoder is None:
            self._encoder = PairEncoder(self.tokenizer, add_bos_token=self.add_bos_token,
                                        prefix_token_id=self.prefix_token_id)
        return self._encoder

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        """TemplateLM.loglikelihood with every pair encoded in one batched pass (same tokens)."""
        t0 = time.perf_counter()
        pairs = [req.args for req in requests]
        encoded = self.pair_encoder().encode_pairs(pairs, self.encode_stats)
        self._add("tokenize_s", time.perf_counter() - t0)
        try:
            return self._loglikelihood_tokens([(p, c, x) for p, (c, x) in zip(pairs, encoded)],
                                              disable_tqdm=disable_tqdm)
        except NonFiniteError as exc:
            raise _named(exc, requests, exc.request) from None

    # -- compute paths -------------------------------------------------------------------------------
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        t0 = time.perf_counter()
        if self.engine.truncation == "left":
            requests = [self._cut_left(key, ctx, cont) for key, ctx, cont in requests]
        advance, close = self._progress("score", [(len(c) + len(x) - 1, 0) for _, c, x in requests],
                                        disable_tqdm, "evalsuite loglikelihood")
        out = score_requests(self.model, [(c, x) for _, c, x in requests], max_length=self.max_length,
                             pad_id=self._pad_id(), engine=self.engine, progress=advance,
                             stats_out=self.scoring_stats)
        close()
        if self.scoring_stats:
            self.paths["loglikelihood"] = self.scoring_stats[-1].engine
        for (key, _, _), ans in zip(requests, out):
            if key is not None:
                self.cache_hook.add_partial("loglikelihood", key, ans)
        self._add("loglikelihood_s", time.perf_counter() - t0)
        return out

    def _progress(self, kind: str, sizes: list[tuple[int, int]], disable_tqdm: bool,
                  desc: str) -> tuple[Callable[[int], None], Callable[[], None]]:
        """(advance(n requests done), close) for the suite display when the runner set one, else a tqdm bar.
        The display prices the requests with the cost model (its ETA); a share of the mean per request."""
        if self.progress is None:
            bar = tqdm(total=len(sizes), disable=disable_tqdm or self.rank != 0, desc=desc)
            return bar.update, bar.close
        progress, costs = self.progress, request_costs(kind, sizes, self.model)
        progress.add_requests(costs)
        mean = sum(costs) / max(len(costs), 1)
        return (lambda n: progress.advance(n, n * mean)), (lambda: None)

    def _cut_left(self, key: Any, ctx: list[int], cont: list[int]) -> tuple[Any, list[int], list[int]]:
        """Stock hf's input ``(ctx + cont)[-(max_length + 1):][:-1]``, as a shorter context (a continuation
        longer than the window keeps its whole context and is refused by the scorer)."""
        cut = len(ctx) + len(cont) - 1 - self.max_length
        if cut <= 0 or cut >= len(ctx):
            return key, ctx, cont
        if key is not None:
            self._note_cut(key[0], cut)
        return key, ctx[cut:], cont

    def _note_cut(self, context: str, cut: int) -> None:
        self.truncated_tokens[context] = max(cut, self.truncated_tokens.get(context, 0))

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        windows: list[tuple[int, tuple[None, list[int], list[int]]]] = []
        t0 = time.perf_counter()
        strings = [req.args[0] for req in requests]
        encoded = self.pair_encoder().encode_many(strings)  # tok_encode's tokens, one batched call
        for i, string in enumerate(strings):
            tokens = encoded[string]
            self.rolling_token_counts[string] = len(tokens)
            for ctx, cont in map(lm_utils.make_disjoint_window, lm_utils.get_rolling_token_windows(
                    token_list=tokens, prefix_token=self.prefix_token_id, max_seq_len=self.max_length, context_len=1)):
                windows.append((i, (None, ctx, cont)))
        self._add("tokenize_s", time.perf_counter() - t0)
        try:
            scores = self._loglikelihood_tokens([w for _, w in windows], disable_tqdm=disable_tqdm)
        except NonFiniteError as exc:
            raise _named(exc, requests, None if exc.request is None else windows[exc.request][0]) from None
        totals = [0.0] * len(requests)
        for (i, _), (logprob, _) in zip(windows, scores):
            totals[i] += logprob
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        t0 = time.perf_counter()
        eos = self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        self.paths["generate_until"] = generation_path(self.model, self.engine.generation)
        args = [r.args for r in requests]
        # tok_encode's tokens for every prompt in one batched call on the Rust tokenizer's threads. One at a time it
        # is ~2 us a token on one core (0.25 s a 128K prompt) while the GPU waits, for every sample of the
        # protocol; batched, 1M tokens of RULER prompts took 0.75 s against 2.06 s on 2 cores, the same tokens.
        encoded = self.pair_encoder().encode_many([context for context, _ in args])
        reqs: list[GenerationRequest] = []
        for context, gen_kwargs in args:
            kwargs = normalize_gen_kwargs(dict(gen_kwargs), self.max_gen_toks)
            if kwargs.get("do_sample") and kwargs.get("temperature", 0) > 0:
                raise ValueError("evalsuite generates greedily; the task asked for sampling")
            until = tuple(s for s in (kwargs.get("until") or []) if s != eos)
            prompt = list(encoded[context])
            room = self.max_length - int(kwargs["max_gen_toks"])  # stock hf's left_truncate_len
            if self.engine.truncation == "left" and 0 < room < len(prompt):
                self._note_cut(context, len(prompt) - room)
                prompt = prompt[-room:]
            reqs.append(GenerationRequest(prompt_tokens=prompt, max_gen_toks=int(kwargs["max_gen_toks"]), until=until))
        # Prompts priced from their characters, as the suite's ETA prices every generation unit.
        advance, close = self._progress("generate_chars", [(len(c), r.max_gen_toks) for (c, _), r in zip(args, reqs)],
                                        disable_tqdm, "evalsuite generate")
        if self.engine.generation_rows != 1 and batchable(self.model, self.engine.generation):
            self.paths["generate_until"] += ", batched"
            t_req = time.perf_counter()
            try:
                generated = greedy_generate_batch(self.model, self.tokenizer, reqs, max_length=self.max_length,
                                                  eos_token_id=self.eot_token_id, mode=self.engine.generation,
                                                  attention=self.engine.attention, max_rows=self.engine.generation_rows,
                                                  compile_prefill=self.engine.compile_prefill,
                                                  decode_attention=self.engine.decode_attention,
                                                  share_prefix=bool(self.engine.share_prefix),
                                                  pack_tokens=self.engine.pack_tokens,
                                                  retire_rows=self.engine.retire_rows,
                                                  decode_split=self.engine.decode_split,
                                                  timings=self.generation_batches)
            except NonFiniteError as exc:
                raise _named(exc, requests, exc.request) from None
            advance(len(reqs))
            self.generation_timings += [{"prompt_tokens": len(r.prompt_tokens), "batched": True} for r in reqs]
            self._add("generate_batched_s", time.perf_counter() - t_req)
        else:
            generated = self._generate_one_at_a_time(requests, reqs, advance)
        close()
        results: list[str] = []
        for (context, gen_kwargs), req, tokens in zip(args, reqs, generated):
            self.generated_tokens.append(tokens)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            for stop in req.until:  # lm-eval's convention: cut before the first stop string
                text = text.split(stop)[0]
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            results.append(text)
        self._add("generate_s", time.perf_counter() - t0)
        return results

    def _generate_one_at_a_time(self, requests, reqs: list[GenerationRequest],
                                advance: Callable[[int], None]) -> list[list[int]]:
        lean = LeanDecoder.wrap(self.model)
        # One cache (and captured, possibly compiled, step) reused across requests.
        cache = (DecodeCache(lean, compile=self.engine.generation == "compiled",
                             decode_attention=self.engine.decode_attention) if lean is not None else None)
        out: list[list[int]] = []
        for req in reqs:
            phases: dict[str, Any] = {"prompt_tokens": len(req.prompt_tokens)}
            t_req = time.perf_counter()
            try:
                out.append(greedy_generate_tokens(self.model, self.tokenizer, req, max_length=self.max_length,
                                                  eos_token_id=self.eot_token_id, mode=self.engine.generation, cache=cache,
                                                  attention=self.engine.attention, timings=phases,
                                                  compile_prefill=self.engine.compile_prefill,
                                                  decode_attention=self.engine.decode_attention))
            except NonFiniteError as exc:
                raise _named(exc, requests, len(out)) from None  # the request in hand
            phases["request_s"] = time.perf_counter() - t_req  # setup + prefill + decode, synchronised
            self.generation_timings.append(phases)
            advance(1)
        if cache is not None:
            cache.release()
        return out

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.eot_token_id)


def _named(exc: NonFiniteError, requests: list[Any], index: int | None) -> NonFiniteError:
    """``exc`` naming the lm-eval document of ``requests[index]`` (its task and doc id) in front."""
    if index is None:
        return exc
    request = requests[index]
    return exc.within(f"{getattr(request, 'task_name', None) or 'request'} doc {getattr(request, 'doc_id', index)}")
