"""No path reaches remote code: checkpoints whose config or tokenizer ``auto_map`` points at code that would
write a file are refused, in a fresh process whose standard input answers 'y' to any prompt, and the file is
never written (on main at 9742a0a transformers asked "[y/N]" and the 'y' ran the code)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_EVIL = """open({marker!r}, "w").write("remote code ran")
from transformers import PretrainedConfig, PreTrainedTokenizerFast


class EvilConfig(PretrainedConfig):
    model_type = "evil"


class EvilTokenizer(PreTrainedTokenizerFast):
    pass
"""


def _plant(folder: Path, marker: Path) -> None:
    for name in ("configuration_evil.py", "tokenization_evil.py", "modeling_evil.py"):
        (folder / name).write_text(_EVIL.format(marker=str(marker)))


def _tokenizer_auto_map(folder: Path) -> None:
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text()) if path.exists() else {}
    config.update(tokenizer_class="EvilTokenizer",
                  auto_map={"AutoTokenizer": ["tokenization_evil.EvilTokenizer", "tokenization_evil.EvilTokenizer"]})
    path.write_text(json.dumps(config))


def _unknown_model_type(folder: Path) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(model_type="evil", auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                                               "AutoModelForCausalLM": "modeling_evil.EvilModel"})
    path.write_text(json.dumps(config))


def _both(folder: Path) -> None:
    _unknown_model_type(folder)
    _tokenizer_auto_map(folder)


@pytest.mark.parametrize("edit, message", [
    (_unknown_model_type, "model_type 'evil' needs remote code, which evalsuite never runs"),
    (_tokenizer_auto_map, "tokenizer class 'EvilTokenizer' needs remote code, which evalsuite never runs"),
    (_both, "model_type 'evil' needs remote code"),
], ids=["config", "tokenizer", "config-and-tokenizer"])
def test_auto_map_code_never_runs_even_when_stdin_says_yes(edit, message, tiny_folder, tmp_path):
    folder = shutil.copytree(tiny_folder("none"), tmp_path / "ckpt")
    marker = tmp_path / "PWNED"
    _plant(folder, marker)
    edit(folder)
    code = ("from evalsuite.models.loader import load\nfrom evalsuite.spec import SourceSpec\n"
            f"load(SourceSpec(path={str(folder)!r}), hash_weights=False)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_MODULES_CACHE": str(tmp_path / "modules")}
    proc = subprocess.run([sys.executable, "-c", code], input="y\n" * 8, capture_output=True, text=True, env=env,
                          timeout=300)
    assert not marker.exists(), "remote code ran"
    assert "[y/N]" not in proc.stdout + proc.stderr  # refused before transformers could ask
    assert proc.returncode != 0 and "ModelLoadError" in proc.stderr and message in proc.stderr
    assert not (tmp_path / "modules").exists()  # nothing was even copied into transformers' module cache


def test_every_from_pretrained_refuses_remote_code():
    """Source check: each ``from_pretrained`` the product calls says ``trust_remote_code=False`` (or passes
    kwargs that do); the lab (bench, zoo) builds its own models and is not a path for user checkpoints."""
    import re

    offenders = []
    for path in (REPO / "evalsuite").rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(("evalsuite/lab/")):
            continue
        text = path.read_text()
        for match in re.finditer(r"(Auto\w+)\.from_pretrained\(", text):
            call = text[match.end():text.find("\n\n", match.end())]
            depth, end = 1, 0
            for end, ch in enumerate(call):
                depth += (ch == "(") - (ch == ")")
                if depth == 0:
                    break
            args = call[:end]
            if args.startswith("...") or "trust_remote_code=False" in args or "from_pretrained_kwargs" in args:
                continue  # a message that names the call, or the placement helper that carries the flag
            if "**kw" not in args:
                offenders.append(f"{rel}: {match.group(1)}.from_pretrained({args[:60]}")
    assert not offenders, offenders
