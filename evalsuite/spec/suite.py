"""Suite files (``tasks/suites/*.yaml``) parsed once into frozen, typed specs.

Every schema error names the offending key path (``models[1].source.hub``), so a
typo in a 40-line suite is a one-line fix. Nothing downstream sees raw dicts. A model entry's
engine keys (``batch_tokens``, ``compile_scoring``, ...) sit flat beside its identity in the YAML, as
users write them, and become one :class:`~evalsuite.spec.engine.EngineConfig`; :meth:`ModelSpec.as_record`
writes them back flat, so fingerprints, manifests and unit hashes serialise exactly what they always did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml

from evalsuite.errors import SpecError
from evalsuite.spec.engine import SUITE_KEYS, EngineConfig
from evalsuite.spec.source import SourceSpec
from evalsuite.spec.yarn import YarnSpec

Role = Literal["baseline", "gated", "candidate", "reference"]
_ROLES = ("baseline", "gated", "candidate", "reference")
_GATES = ("none", "headwise", "elementwise")
SUITE_BATCH_TOKENS = 4096  # a suite's default (2 CPU cores); the LM's own default is EngineConfig's


@dataclass(frozen=True)
class ModelSpec:
    """A model of the suite: what it is (identity, source, YaRN) and how the engine runs it (``engine``)."""

    name: str
    role: Role
    source: SourceSpec
    dtype: str = "float32"
    device: str = "cpu"
    max_length: int | None = None
    attn_implementation: str = "sdpa"
    yarn: YarnSpec | None = None
    compare_to: str | None = None  # the model this one's deltas are taken against
    zero_mlp_layers: tuple[int, ...] = ()  # ablation: these layers' MLP outputs set to zero after loading
    engine: EngineConfig = EngineConfig(batch_tokens=SUITE_BATCH_TOKENS)

    def as_record(self) -> dict[str, Any]:
        """The flat dict suites, fingerprints and manifests have always held (engine keys beside identity)."""
        e = self.engine
        return {"name": self.name, "role": self.role, "source": self.source.as_record(), "dtype": self.dtype,
                "device": self.device, "max_length": self.max_length,
                "attn_implementation": self.attn_implementation, "batch_tokens": e.batch_tokens,
                "yarn": None if self.yarn is None else self.yarn.as_record(), "compare_to": self.compare_to,
                "zero_mlp_layers": list(self.zero_mlp_layers), "generation": e.generation,
                "compile_scoring": e.compile_scoring, "attention": e.attention,
                "tree_attention": e.tree_attention, "truncation": e.truncation,
                "compile_prefill": e.compile_prefill, "decode_attention": e.decode_attention,
                "share_prefix": e.share_prefix}


@dataclass(frozen=True)
class TaskSpec:
    task: str
    shots: int | None = None
    limit: int | None = None  # items per (sub)task, as lm-eval's --limit
    models: tuple[str, ...] = ()  # restrict to these models; empty = all
    lengths: tuple[int, ...] = ()  # RULER sequence lengths
    samples: int | None = None  # RULER samples per task and length
    kind: Literal["lm_eval", "diagnostics"] = "lm_eval"


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    models: tuple[ModelSpec, ...]
    tasks: tuple[TaskSpec, ...]
    seed: int = 1234
    data_dir: str | None = None
    output_dir: str | None = None
    path: str | None = field(default=None, compare=False)

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise SpecError(f"no model named {name!r} in suite {self.name!r}")

    def units(self) -> list[tuple[ModelSpec, TaskSpec]]:
        return [(m, t) for t in self.tasks for m in self.models if not t.models or m.name in t.models]

    def as_record(self) -> dict[str, Any]:
        """JSON-ready, as the manifest's ``suite_spec`` (models flat, see :meth:`ModelSpec.as_record`)."""
        return {"name": self.name, "models": [m.as_record() for m in self.models],
                "tasks": [asdict(t) for t in self.tasks], "seed": self.seed, "data_dir": self.data_dir,
                "output_dir": self.output_dir, "path": self.path}

    def fingerprint(self) -> str:
        body = {k: v for k, v in self.as_record().items() if k != "path"}
        for m in body["models"]:  # a knob at its default leaves the fingerprint (and the run folder) as before
            if m["truncation"] == "refuse":
                del m["truncation"]
            if m["tree_attention"] is None:  # the device's choice since run 5; "sdpa" was the default before
                m["tree_attention"] = "sdpa"
            # suite keys since session 7 (share_prefix: session 10), open by default
            for knob in ("compile_prefill", "decode_attention", "share_prefix"):
                if m[knob] is None:
                    del m[knob]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def safe_name(value: Any, where: str) -> str:
    """A name that becomes one folder of the results tree (suite, model, run id): a single path component.
    ``|`` or ``<`` are fine (the leaderboard escapes them); ``/``, ``..`` or a leading dot would leave
    or hide inside the results root."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: expected a non-empty name, found {value!r}")
    if any(c in value for c in "/\\\0") or value.startswith("."):
        raise SpecError(f"{where}: {value!r} must be a single folder name (no '/', '\\', NUL or leading '.')")
    return value


def _take(d: dict[str, Any], where: str, allowed: set[str]) -> None:
    if not isinstance(d, dict):
        raise SpecError(f"{where}: expected a mapping, found {type(d).__name__}")
    extra = sorted(set(d) - allowed)
    if extra:
        raise SpecError(f"{where}: unknown key {extra[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _choice(value: Any, choices: Sequence[str], where: str) -> Any:
    if value not in choices:
        raise SpecError(f"{where}: must be one of {', '.join(choices)}, found {value!r}")
    return value


def _optional_str(value: Any, where: str) -> str | None:
    return None if value is None else _typed(value, str, where)


def _typed(value: Any, typ: type | tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) and typ in (int, float, (int, float)):
        raise SpecError(f"{where}: expected a number, found {value!r}")
    if not isinstance(value, typ):
        name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise SpecError(f"{where}: expected {name}, found {value!r}")
    return value


def _source(d: Any, where: str) -> SourceSpec:
    if isinstance(d, str):
        d = {"path": d}
    _take(d, where, {"path", "hub", "subfolder", "revision", "gguf", "builtin", "tiny"})
    kinds = [k for k in ("path", "hub", "gguf", "builtin", "tiny") if k in d]
    if len(kinds) != 1:
        raise SpecError(f"{where}: give exactly one of path, hub, gguf, builtin, tiny (found {kinds or 'none'})")
    if "tiny" in d:
        t = d["tiny"]
        _take(t, f"{where}.tiny", {"gate", "seed"})
        gate = _choice(t.get("gate", "none"), _GATES, f"{where}.tiny.gate")
        return SourceSpec(tiny_gate=gate, tiny_seed=_typed(t.get("seed", 0), int, f"{where}.tiny.seed"))
    for k in ("path", "hub", "subfolder", "revision", "gguf", "builtin"):
        if k in d:
            _typed(d[k], str, f"{where}.{k}")
    if ("subfolder" in d or "revision" in d) and "hub" not in d and "path" not in d:
        raise SpecError(f"{where}: subfolder/revision need a hub id or path")
    return SourceSpec(path=d.get("path"), hub=d.get("hub"), subfolder=d.get("subfolder"),
                      revision=d.get("revision"), gguf=d.get("gguf"), builtin=d.get("builtin"))


def _model(d: Any, where: str, defaults: dict[str, Any]) -> ModelSpec:
    keys = {"name", "role", "source", "dtype", "device", "max_length", "attn_implementation", "batch_tokens",
            "yarn", "compare_to", "zero_mlp_layers", *SUITE_KEYS}
    _take(d, where, keys)
    merged = {**defaults, **d}
    for req in ("name", "source"):
        if req not in merged:
            raise SpecError(f"{where}: missing required key {req!r}")
    name = safe_name(merged["name"], f"{where}.name")
    role = _choice(merged.get("role", "candidate"), _ROLES, f"{where}.role")
    yarn = _yarn(merged.get("yarn"), f"{where}.yarn")
    dtype = merged.get("dtype", "float32")
    if dtype not in ("float32", "bfloat16", "float16"):
        raise SpecError(f"{where}.dtype: must be float32, bfloat16 or float16, found {dtype!r}")
    max_length = merged.get("max_length")
    if max_length is not None:
        _typed(max_length, int, f"{where}.max_length")
    elif yarn is not None:
        max_length = yarn.max_position_embeddings
    engine = EngineConfig.parse({"batch_tokens": SUITE_BATCH_TOKENS,
                                 **{k: merged[k] for k in SUITE_KEYS if k in merged}}, where)
    return ModelSpec(name=name, role=role, source=_source(merged["source"], f"{where}.source"), dtype=dtype,
                     device=_typed(merged.get("device", "cpu"), str, f"{where}.device"), max_length=max_length,
                     attn_implementation=_typed(merged.get("attn_implementation", "sdpa"), str,
                                                f"{where}.attn_implementation"),
                     yarn=yarn, compare_to=_optional_str(merged.get("compare_to"), f"{where}.compare_to"),
                     zero_mlp_layers=_layer_list(merged.get("zero_mlp_layers", []), f"{where}.zero_mlp_layers"),
                     engine=engine)


def _yarn(y: Any, where: str) -> YarnSpec | None:
    """``yarn: {factor, original_max_position_embeddings}``; in a suite the factor must stretch (> 1)."""
    if y is None:
        return None
    _take(y, where, {"factor", "original_max_position_embeddings"})
    for k in ("factor", "original_max_position_embeddings"):
        if k not in y:
            raise SpecError(f"{where}: missing required key {k!r}")
    factor = float(_typed(y["factor"], (int, float), f"{where}.factor"))
    if factor <= 1:
        raise SpecError(f"{where}.factor: must be > 1, found {factor}")
    return YarnSpec(factor, _typed(y["original_max_position_embeddings"], int,
                                   f"{where}.original_max_position_embeddings"))


def _layer_list(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                       for x in value):
        raise SpecError(f"{where}: expected a list of layer indices, found {value!r}")
    return tuple(value)


def _count(d: dict[str, Any], key: str, where: str) -> int | None:
    """An optional non-negative integer (shots, limit, samples)."""
    if d.get(key) is None:
        return None
    if _typed(d[key], int, f"{where}.{key}") < 0:
        raise SpecError(f"{where}.{key}: must be >= 0, found {d[key]}")
    return d[key]


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise SpecError(f"{where}: expected a list of model names, found {value!r}")
    return tuple(value)


def _diagnostics(d: dict[str, Any], where: str) -> TaskSpec:
    """``{diagnostics: {limit: 64}, models: [...]}``; ``limit`` may also sit beside ``diagnostics``."""
    _take(d, where, {"diagnostics", "limit", "models"})
    inner = d["diagnostics"] if d["diagnostics"] is not None else {}
    _take(inner, f"{where}.diagnostics", {"limit"})
    if "limit" in inner and "limit" in d:
        raise SpecError(f"{where}: 'limit' given twice (in diagnostics and beside it); keep one")
    limit = _count(inner, "limit", f"{where}.diagnostics") if "limit" in inner else _count(d, "limit", where)
    return TaskSpec(task="diagnostics", kind="diagnostics", limit=limit,
                    models=_names(d.get("models", ()), f"{where}.models"))


def _task(d: Any, where: str) -> TaskSpec:
    if isinstance(d, str):
        d = {"task": d}
    _take(d, where, {"task", "shots", "limit", "models", "lengths", "samples", "diagnostics"})
    if "diagnostics" in d:
        return _diagnostics(d, where)
    if "task" not in d:
        raise SpecError(f"{where}: missing required key 'task'")
    lengths = d.get("lengths", ())
    if not isinstance(lengths, (list, tuple)) or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                                                         for x in lengths):
        raise SpecError(f"{where}.lengths: expected a list of positive token counts, found {lengths!r}")
    task = _typed(d["task"], str, f"{where}.task")
    safe_name(task, f"{where}.task")
    return TaskSpec(task=task, shots=_count(d, "shots", where), limit=_count(d, "limit", where),
                    models=_names(d.get("models", ()), f"{where}.models"), lengths=tuple(lengths),
                    samples=_count(d, "samples", where))


def parse_suite(raw: dict[str, Any], *, path: str | None = None) -> SuiteSpec:
    _take(raw, "suite", {"name", "seed", "data_dir", "output_dir", "defaults", "models", "tasks", "description"})
    if "name" not in raw:
        raise SpecError("suite: missing required key 'name'")
    name = safe_name(raw["name"], "name")
    for key in ("data_dir", "output_dir", "description"):
        _optional_str(raw.get(key), key)
    seed = _typed(raw.get("seed", 1234), int, "seed")
    defaults = raw.get("defaults", {}) or {}
    _take(defaults, "defaults", {"dtype", "device", "max_length", "attn_implementation", "batch_tokens", "role",
                                 "truncation"})
    for key in ("models", "tasks"):
        if not raw.get(key) or not isinstance(raw[key], list):
            raise SpecError(f"suite: {key!r} must list at least one {key[:-1]}")
    models = tuple(_model(m, f"models[{i}]", defaults) for i, m in enumerate(raw["models"]))
    names = [m.name for m in models]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SpecError(f"models: duplicate model name {sorted(dup)[0]!r}")
    for i, m in enumerate(models):
        if m.compare_to is not None and m.compare_to not in names:
            raise SpecError(f"models[{i}].compare_to: no model named {m.compare_to!r}")
    tasks = tuple(_task(t, f"tasks[{i}]") for i, t in enumerate(raw["tasks"]))
    for i, t in enumerate(tasks):
        for n in t.models:
            if n not in names:
                raise SpecError(f"tasks[{i}].models: no model named {n!r}")
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(tasks):
        for m in models:
            if (not t.models or m.name in t.models) and (m.name, t.task) in seen:
                raise SpecError(f"tasks[{i}]: model {m.name!r} already runs task {t.task!r} (restrict with 'models')")
            if not t.models or m.name in t.models:
                seen.add((m.name, t.task))
    return SuiteSpec(name=name, models=models, tasks=tasks, seed=seed, data_dir=raw.get("data_dir"),
                     output_dir=raw.get("output_dir"), path=path)


def load_suite(path: str | Path) -> SuiteSpec:
    p = Path(path)
    if not p.exists():
        raise SpecError(f"suite file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"{p}{where}: invalid YAML") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{p}: a suite must be a mapping with name, models and tasks")
    return parse_suite(raw, path=str(p))
