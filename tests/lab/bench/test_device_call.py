"""``evalsuite/lab/bench/device_call.sh`` and the run scripts that source it, run with bash on a scratch copy:
the device session's first calls bring the wheelhouse or the data alone, a call that needs what has not
arrived stops with one line, and ``watched`` keeps a cut command's record."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = ("evalsuite/lab/bench/device_call.sh", "evalsuite/lab/bench/fa4_parts.sh",
           "results/bench/run13/call.sh", "results/bench/run14/call.sh", "results/bench/run15/call.sh")
# What an earlier call on the same machine would have left: with these present, a call finds them and goes on.
MACHINE_STATE = (Path("/tmp/site/lm_eval"), Path("/tmp/carry/data"), Path("/tmp/fa4-parts"))

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")


@pytest.fixture
def checkout(tmp_path):
    for script in SCRIPTS:
        (tmp_path / script).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / script, tmp_path / script)
    return tmp_path


def call(checkout: Path, *args: str, run: int = 14) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", f"results/bench/run{run}/call.sh", *args], cwd=checkout, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "OUT": str(checkout / "out")})


def test_every_device_script_parses():
    scripts = sorted((ROOT / "results/bench").glob("**/*.sh")) + sorted((ROOT / "evalsuite").glob("**/*.sh"))
    assert ROOT / SCRIPTS[0] in scripts and ROOT / "evalsuite/tools/build_fa4_parts.sh" in scripts
    for script in scripts:
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script


@pytest.mark.skipif(any(p.exists() for p in MACHINE_STATE), reason="an earlier device call's files are here")
def test_a_part_call_may_bring_nothing_else_and_a_measuring_call_may_not(checkout):
    part = call(checkout, "part")
    assert part.returncode == 0, part.stderr
    measuring = call(checkout, "count2")
    assert measuring.returncode == 1
    assert measuring.stderr.strip() == "call.sh: no .whl/ carried and no /tmp/site from an earlier call on this machine"


def test_an_unknown_call_is_one_line_and_exit_2(checkout):
    out = call(checkout, "nope")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "nope is not one of" in out.stderr


def test_the_lone_probe_call_needs_the_wheelhouse_and_says_so_in_one_line(checkout):
    out = call(checkout, "lone-parts", run=15)
    assert out.returncode == 1 and out.stderr == "call.sh: lone-parts needs the wheelhouse carried (.whl/)\n"
    assert not (checkout / "out").exists()  # nothing half-made: it stopped before anything ran
    assert "is not one of part, parts, lone-parts, gyarn" in call(checkout, "nope", run=15).stderr


def test_watched_keeps_a_cut_commands_record(checkout):
    src, dest, log = checkout / "rec.json", checkout / "out" / "rec.json", checkout / "cmd.log"
    (checkout / "out").mkdir()
    script = (f'what=part OUT={checkout / "out"}; source evalsuite/lab/bench/device_call.sh; '
              f'watched {src} {dest} 2 {log} bash -c "echo started; echo {{}} > {src}; sleep 30"; echo "rc $?"')
    out = subprocess.run(["bash", "-c", script], cwd=checkout, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "rc 124"  # cut by its limit
    assert dest.read_text().strip() == "{}" and log.read_text().strip() == "started"
