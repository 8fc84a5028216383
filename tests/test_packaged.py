"""tasks/ ships inside the wheel and an installed evalsuite finds it (and its suites) from any directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from evalsuite.packaged import find_suite, shipped_suites, tasks_dir

REPO = Path(__file__).resolve().parents[1]


def test_a_checkout_reads_its_own_tasks_folder():
    assert tasks_dir() == REPO / "tasks"
    assert (tasks_dir() / "hellaswag_es" / "es_hellaswag.yaml").is_file()
    assert {"quick", "paper"} <= set(shipped_suites())


def test_shipped_suites_resolve_by_name_and_by_the_readme_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # another directory: tasks/suites/quick.yaml is not there
    assert find_suite("quick") == tasks_dir() / "suites" / "quick.yaml"
    assert find_suite("quick.yaml") == find_suite("tasks/suites/quick.yaml") == find_suite("quick")
    (tmp_path / "quick.yaml").write_text("name: mine\n")
    assert find_suite("quick.yaml") == Path("quick.yaml")  # a file of the user's wins
    assert find_suite("elsewhere/nope.yaml") == Path("elsewhere/nope.yaml")  # the caller names what was typed
    assert find_suite("some/dir/quick.yaml") == Path("some/dir/quick.yaml")  # not a shipped suite's path


def test_the_explicit_package_list_names_every_subpackage():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "evalsuite").rglob("__init__.py")}
    assert set(cfg["packages"]) == on_disk | {"evalsuite._tasks"}
    assert cfg["package-dir"]["evalsuite._tasks"] == "tasks"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("build") / "src"  # a copy of the working tree, so the checkout stays clean
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for rel in ("evalsuite", "tasks"):
        shutil.copytree(REPO / rel, src / rel, ignore=skip)
    for rel in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / rel, src / rel)
    # --no-build-isolation: the venv's own setuptools, no package index.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True)
    return next(out.glob("evalsuite-*.whl"))


def test_the_wheel_carries_every_task_file_and_suite(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tasks = [p.relative_to(REPO / "tasks").as_posix() for p in (REPO / "tasks").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    missing = [t for t in tasks if f"evalsuite/_tasks/{t}" not in names]
    assert not missing and "evalsuite/_tasks/suites/quick.yaml" in names


def test_an_installed_package_finds_its_tasks_from_another_directory(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("from evalsuite.packaged import tasks_dir, find_suite; import evalsuite; "
            "print(evalsuite.__file__); print(tasks_dir()); print(find_suite('tasks/suites/quick.yaml'))")
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=elsewhere, env={"PYTHONPATH": str(site)},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(site)) and out[1] == str(site / "evalsuite" / "_tasks")
    assert out[2] == str(site / "evalsuite" / "_tasks" / "suites" / "quick.yaml")
