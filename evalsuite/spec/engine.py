"""The engine's knobs, the one type: :class:`EngineConfig` travels unchanged from the suite (or lm-eval's
``--model_args``, parsed once at the adapter) to where each knob takes effect in :mod:`evalsuite.engine`.

Adding a knob: a field here (with its choices and why its default is what it is), its use, its test.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal, Mapping, Sequence

from evalsuite.errors import SpecError

AttentionChoice = Literal["auto", "fa4", "cudnn", "flash"]
ATTENTION_CHOICES: tuple[str, ...] = ("auto", "fa4", "cudnn", "flash")
TreeAttention = Literal["sdpa", "flex"]
TREE_ATTENTION_CHOICES: tuple[str, ...] = ("sdpa", "flex")
DecodeAttention = Literal["split", "flex"]
DECODE_ATTENTION_CHOICES: tuple[str, ...] = ("split", "flex")
DecodeSplit = Literal["torch", "wide"]
DECODE_SPLIT_CHOICES: tuple[str, ...] = ("torch", "wide")
GenerationMode = Literal["fast", "compiled", "exact", "hf"]
GENERATION_MODES: tuple[str, ...] = ("fast", "compiled", "exact", "hf")
TRUNCATIONS: tuple[str, ...] = ("refuse", "left")
FORWARDS: tuple[str, ...] = ("auto", "hf")

#: The knobs a suite's model entry may set (the others are for the lab and tests, or lm-eval's --model_args).
SUITE_KEYS = ("batch_tokens", "generation", "compile_scoring", "attention", "tree_attention", "truncation",
              "compile_prefill", "decode_attention", "share_prefix")


@dataclass(frozen=True)
class EngineConfig:
    """How the engine scores and generates; none of it changes what a model is.

    ``compile_scoring``, ``tree_attention``, ``generation``, ``decode_attention`` and ``compile_prefill`` left at
    None are decided by the device when the LM is built (:meth:`resolved`). On CUDA: compiled scoring,
    FlexAttention's block mask for packed rows, the ``fast`` decoder with FlexAttention's decoding kernel and the
    compiled prefill (compiled scoring took 24-35 % off the H200 benchmark's scoring time; the block mask, which
    skips a packed row's empty blocks, HellaSwag's 15.8 -> 14.9 s on an H100 with the same agreement with stock,
    results/bench/run5; CUDA-graph steps; the flex step and the compiled prefill, 100 RULER prompts at 4K batched
    8.26 -> 6.11 s and a 128K sample 6.54 -> 5.96 s on an H100, results/bench/run6). On CPU: eager scoring, the
    dense mask and the ``exact`` decoder (the fp32 parity path); a ``fast`` step there attends ``split``.
    ``share_prefix`` left at None is on wherever generation is batched (run 9, H100: prompts sharing RULER haystack
    openings prefilled 9-16 % faster, with the unshared path's tokens on every sample compared).
    """

    batch_tokens: int = 8192  # bounds B*L per forward pass of the packed scorer
    row_tokens: int = 2048  # packed row length (a row is never shorter than the longest request)
    compile_scoring: bool | None = None  # the scorer's layer halves + LM-head log-softmax through torch.compile
    attention: AttentionChoice = "auto"  # causal kernel for plain rows and prompts on CUDA (engine.kernels)
    tree_attention: TreeAttention | None = None  # packed rows: the dense mask (sdpa) or FlexAttention's block mask
    generation: GenerationMode | None = None  # decoder for generate_until (engine.generate)
    generation_rows: int | None = None  # rows decoded together (None: as many as memory holds; 1: one at a time)
    # Generation prompts through the compiled layer halves (those compiled scoring uses) while the decode step stays
    # as its mode has it. None: on CUDA, yes; elsewhere as the mode (only "compiled"). Run 5 (H100, 100 RULER
    # prompts at 4K, batched): the compiled prefill took 2.74 s against 4.44 s, while the compiled decode step was
    # 3.3x slower than "fast"'s; run 6: 2.80 s against 4.45 s there, 4.24 s against 4.78 s for a 128K prompt.
    compile_prefill: bool | None = None
    # A fast decode step's attention over its static cache (engine.static_cache): two matmuls over every cached
    # position ("split"), or FlexAttention's decoding kernel reading each row's filled blocks only ("flex").
    # None: "flex" on CUDA (run 6, H100: 21.4 against 25.6 ms a step for 100 rows at 4K, 9.7 against 11.7 ms for
    # one at 128K), "split" elsewhere.
    decode_attention: DecodeAttention | None = None
    # Batched generation: a group's prompts in token order, and a prefix one shares with a prompt still held in the
    # cache copied into its row rather than prefilled again (engine.batch_decode; RULER's haystacks read from the
    # start up to the first needle). None: yes wherever generation is batched. Tokens equal the unshared path's in
    # fp32 on CPU (tested); bf16 on a GPU: results/bench/run9.
    share_prefix: bool | None = None
    # Batched generation: whole prompts prefilled together, up to this many padded tokens a forward (0: one prompt a
    # forward). None: the engine's figure for the device (engine.batch_decode.PACK_TOKENS: 16,384 on CUDA, run 10,
    # the tokens of 100 of 100 RULER 4K samples identical; none on CPU). For the lab and --model_args.
    pack_tokens: int | None = None
    # Batched generation: a row that is done reads one block of its cache a step (flex attention), not its whole
    # prefix until the batch's last row is done. The tokens are the same (run 12: 100 of 100 at 4K, 3 of 3 at 128K;
    # the decode 8 % and 27 % shorter); off only for the lab's comparison.
    retire_rows: bool = True
    # Batched generation, flex attention on CUDA: the decoding kernel's split of each row's keys. "torch": torch's
    # own, fewer splits the more rows the cache has. "wide": as wide as a one-row cache's where the cache is long
    # (engine.static_cache.decode_split: 32 ways at 128K where torch gives 3 rows 10), so the rows still live among
    # retired ones use the whole GPU. Run 13 (H100): the decode 10-16 % shorter in 64K/128K batches whose rows end
    # early, 1-5 % longer where most rows stay live (one split is captured for the whole batch); tokens equal torch's
    # split's up to bf16 near ties (0-3 ulps) of the random model. None: "torch" (a trained model's tokens with the
    # wide split are not yet checked against stock lm-eval on a GPU). For the lab and --model_args.
    decode_split: DecodeSplit | None = None
    truncation: Literal["refuse", "left"] = "refuse"  # over-long requests: an error, or stock hf's left cut
    lm_head_chunk: int = 2048  # distinct positions per LM-head matmul: bounds the [n, V] fp32 logits buffer
    forward: Literal["auto", "hf"] = "auto"  # "hf" forces transformers' decoder instead of engine.forward
    check_finite: bool = True  # refuse a non-finite log-likelihood (off only in the benchmark's "nocheck" variant)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], where: str, *, strings: bool = False) -> "EngineConfig":
        """The one validation: every key of ``raw`` that names a field, checked, with errors naming
        ``where.key``. ``strings``: values may be lm-eval ``k=v`` strings (``"true"``, ``"auto"``, ``"4096"``)."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise SpecError(f"{where}: unknown engine key {key!r} (allowed: {', '.join(sorted(known))})")
            values[key] = _check(key, _from_string(key, value) if strings else value, f"{where}.{key}")
        return cls(**values)

    def resolved(self, *, on_cuda: bool) -> "EngineConfig":
        """The device's defaults filled in (see the class docstring); set values are kept."""
        return replace(self, compile_scoring=on_cuda if self.compile_scoring is None else self.compile_scoring,
                       tree_attention=self.tree_attention or ("flex" if on_cuda else "sdpa"),
                       generation=self.generation or ("fast" if on_cuda else "exact"),
                       decode_attention=self.decode_attention or ("flex" if on_cuda else "split"),
                       share_prefix=True if self.share_prefix is None else self.share_prefix,
                       decode_split=self.decode_split or "torch",
                       # CPU keeps None: the compiled prefill only where the "compiled" mode asks for it
                       compile_prefill=True if on_cuda and self.compile_prefill is None else self.compile_prefill)


_INTS = ("batch_tokens", "row_tokens", "lm_head_chunk", "pack_tokens")
_ZERO_OK = ("pack_tokens",)  # 0 means something (one prompt a forward); the other ints must be positive
_BOOLS = ("compile_scoring", "check_finite", "compile_prefill", "share_prefix", "retire_rows")
# Knobs that may be left open (None): the device, the generation mode or free memory decides (see resolved()).
_OPEN = ("compile_scoring", "compile_prefill", "tree_attention", "generation", "generation_rows", "decode_attention",
         "share_prefix", "pack_tokens", "decode_split")
# "auto" (or "none", "") in --model_args: open
_AUTO = ("compile_scoring", "compile_prefill", "tree_attention", "decode_attention", "share_prefix", "pack_tokens",
         "decode_split")
_CHOICES: dict[str, Sequence[str]] = {"attention": ATTENTION_CHOICES, "tree_attention": TREE_ATTENTION_CHOICES,
                                      "decode_attention": DECODE_ATTENTION_CHOICES,
                                      "decode_split": DECODE_SPLIT_CHOICES,
                                      "generation": GENERATION_MODES, "truncation": TRUNCATIONS,
                                      "forward": FORWARDS}


def _from_string(key: str, value: Any) -> Any:
    """lm-eval's ``--model_args`` values arrive as strings (or its guesses at a type): read them once, here."""
    if key in _BOOLS and type(value) is int and value in (0, 1):
        return bool(value)  # lm-eval reads "1" as the integer 1
    if not isinstance(value, str):
        return value
    text = value.strip()
    lowered = text.lower()
    if key in _AUTO and lowered in ("auto", "none", ""):
        return None  # the device (or the generation mode) decides
    if key in _BOOLS:
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        return value
    if key in (*_INTS, "generation_rows"):
        if key == "generation_rows" and lowered in ("none", ""):
            return None
        try:
            return int(text)
        except ValueError:
            return value
    return value


def _check(key: str, value: Any, where: str) -> Any:
    if value is None and key in _OPEN:
        return None
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise SpecError(f"{where}: must be one of {', '.join(_CHOICES[key])}, found {value!r}")
        return value
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise SpecError(f"{where}: expected bool, found {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: expected int, found {value!r}")
    if key in _ZERO_OK and value < 0:
        raise SpecError(f"{where}: must be 0 or a positive integer, found {value!r}")
    if key not in _ZERO_OK and value < 1:
        raise SpecError(f"{where}: must be a positive integer, found {value!r}")
    return value
