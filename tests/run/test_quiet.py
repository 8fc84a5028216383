"""Library noise goes to the run folder's log file; the console keeps only what the runner says."""

from __future__ import annotations

import logging
import subprocess
import warnings

from evalsuite.run.quiet import library_noise_to, quiet_git_hash


def test_library_warnings_go_to_the_file_not_the_console(tmp_path, capfd):
    log = tmp_path / "run" / "console.log"
    with warnings.catch_warnings(), library_noise_to(log):
        warnings.simplefilter("always")
        logging.getLogger("lm_eval.models.huggingface").warning("`pretrained` model kwarg is not of type `str`")
        logging.getLogger("transformers.modeling_utils").warning("some transformers warning")
        warnings.warn("a library's UserWarning", UserWarning, stacklevel=1)
    text = log.read_text()
    assert "not of type `str`" in text and "some transformers warning" in text and "UserWarning" in text
    err = capfd.readouterr().err
    assert "not of type" not in err and "transformers warning" not in err and "UserWarning" not in err
    # Afterwards the loggers are as they were.
    assert not any(isinstance(h, logging.FileHandler) for h in logging.getLogger("lm_eval").handlers)


def test_verbose_keeps_the_console_and_writes_the_file_too(tmp_path, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *a, **k: shown.append(str(message)))
    log = tmp_path / "console.log"
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with library_noise_to(log, verbose=True):
            warnings.warn("seen twice", UserWarning, stacklevel=1)
    assert "seen twice" in log.read_text() and shown == ["seen twice"]


def test_lm_evals_inner_bars_are_off_inside(tmp_path):
    from lm_eval.api import task as lm_task

    with library_noise_to(tmp_path / "console.log"):
        assert lm_task.tqdm(range(3)).disable
    assert not lm_task.tqdm(range(3), file=open("/dev/null", "w")).disable


def test_git_hash_outside_a_checkout_is_silent(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert subprocess.run(["git", "rev-parse"], capture_output=True).returncode != 0  # really not a checkout
    assert quiet_git_hash() is None
    assert "fatal" not in capfd.readouterr().err
