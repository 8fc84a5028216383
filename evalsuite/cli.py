"""The ``evalsuite`` command: thin subcommands that parse, build a config, call the public function.

User mistakes (``EvalsuiteError``) and file-system errors (``OSError``: a read-only
folder, a file where a folder should be) print one line naming the problem and
exit 2; anything else is a bug and keeps its traceback. The exit codes are a
contract that CI relies on: for ``check``, 0 = no regression, 1 = regression,
2 = could not decide; every other command exits 0 on success and 2 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

from evalsuite.errors import EvalsuiteError


def _cmd_run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="evalsuite run", description="Run (or resume) a suite file.")
    p.add_argument("suite", help="suite YAML, e.g. tasks/suites/quick.yaml, or a shipped suite's name (quick)")
    p.add_argument("--data", help="local data folder (default: $EVALSUITE_DATA, else the hub, else miniature samples)")
    p.add_argument("--out", default="results", help="results root (default: results)")
    p.add_argument("--run-id", help="run folder name (default: derived from the suite, so reruns resume)")
    p.add_argument("--model", action="append", default=[], help="only this model (repeatable)")
    p.add_argument("--no-publish", action="store_true", help="skip writing LEADERBOARD.md at the end")
    loud = p.add_mutually_exclusive_group()
    loud.add_argument("--quiet", action="store_true", help="errors and the final table only")
    loud.add_argument("--verbose", action="store_true", help="also the libraries' own logs and bars")
    a = p.parse_args(argv)
    from evalsuite.packaged import find_suite
    from evalsuite.run import RunOptions, run_suite
    from evalsuite.run.progress import SuiteConsole
    from evalsuite.run.summary import print_summary
    from evalsuite.spec import load_suite

    from evalsuite.run.distributed import is_main, shutdown

    suite = load_suite(find_suite(a.suite))
    console = SuiteConsole("quiet" if a.quiet else "verbose" if a.verbose else "normal")
    try:
        run_dir = run_suite(suite, RunOptions(output_root=Path(a.out), run_id=a.run_id, console=console,
                                              data_dir=Path(a.data) if a.data else None, only_models=tuple(a.model)))
        main_rank = is_main()  # read before leaving the process group
    finally:
        console.close()
        shutdown()
    if not main_rank:
        return 0
    ok = print_summary(run_dir)
    if not a.no_publish:
        try:
            from evalsuite.report.publish import publish
        except ImportError:
            publish = None  # type: ignore[assignment]
        if publish is not None:
            md = publish([run_dir])
            print(f"leaderboard: {md}")
    print(f"records: {run_dir}")
    return 0 if ok else 2


# -- `evalsuite lm-eval ...`: lm-eval's own command line with the evalsuite adapter and tasks registered. ---------
# Stock ``lm_eval --model evalsuite`` cannot find the adapter (lm-eval 0.4 reads no
# entry points; a model registers by being imported), and ``--include_path`` takes
# one folder. This command imports the adapter, then runs lm-eval's own CLI on the
# arguments exactly as given, every flag intact, with evalsuite's task folder
# added to the task search path (before any ``--include_path`` the user gives,
# which may be repeated here)::
#
#     evalsuite lm-eval --model evalsuite --model_args pretrained=/ckpt --tasks es_hellaswag --batch_size 8
#     evalsuite lm-eval --model hf --model_args pretrained=/ckpt --tasks es_mmlu --num_fewshot 5
#     evalsuite lm-eval ls tasks

_FLAG = "--include_path"


def split_include_paths(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(argv without ``--include_path``, the paths it named, in order); ``--include_path=X`` too."""
    rest: list[str] = []
    paths: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == _FLAG:
            value = next(args, None)
            if value is None:
                rest.append(arg)  # let lm-eval's parser name the missing value
            else:
                paths.append(value)
        elif arg.startswith(_FLAG + "="):
            paths.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return rest, paths


def main_lm_eval(argv: Sequence[str]) -> int:
    """lm-eval's ``cli_evaluate`` with our adapter imported and ``include_path`` = [our tasks, *the user's]."""
    import evalsuite.engine.lm  # noqa: F401  (registers --model evalsuite)
    from evalsuite.packaged import tasks_dir
    from evalsuite.run.quiet import silence_git
    from lm_eval._cli import HarnessCLI
    from lm_eval.utils import setup_logging

    rest, user_paths = split_include_paths(argv)
    silence_git()  # lm-eval records `git describe`; outside a checkout git's "fatal: ..." is noise
    saved = sys.argv
    sys.argv = ["lm-eval", *rest]
    try:
        setup_logging()
        parser = HarnessCLI()
        args = parser.parse_args()  # lm-eval's own parser (it inserts `run` for the legacy form, as lm_eval does)
        if hasattr(args, "include_path"):
            # TaskManager takes a list; lm-eval's flag holds one folder. Ours first, so a user's task of
            # the same name overrides it (later paths win in lm-eval's index).
            args.include_path = [str(tasks_dir()), *user_paths]
        parser.execute(args)
    except SystemExit as exc:  # argparse's --help / errors, and lm-eval's own exits
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def describe_os_error(exc: OSError) -> str:
    """``cannot write /x/y: Read-only file system`` — the path and the reason, in one line."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{paths}: {reason}" if paths else f"{type(exc).__name__}: {reason}"


def delegate(module: str, func: str) -> Callable[[list[str]], int]:
    """A command that imports ``module`` only when it runs (``evalsuite --help`` pays for no torch)."""
    def run(argv: list[str]) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), func)(argv))

    return run


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "run": (_cmd_run, "run or resume a suite file"),
    "compare": (delegate("evalsuite.compare", "main_compare"), "paired tests between models of run(s)"),
    "publish": (delegate("evalsuite.report.publish", "main_publish"), "write LEADERBOARD.md (+CSV, JSON, PNG) from runs"),
    "check": (delegate("evalsuite.report.check", "main_check"), "CI regression gate: exit 1 if a metric got worse"),
    "diagnose": (delegate("evalsuite.diagnostics.cli", "main_diagnose"), "attention sink / activation / gate stats"),
    "ruler": (delegate("evalsuite.families.ruler.cli", "main"), "RULER data: `evalsuite ruler generate ...`"),
    "lm-eval": (main_lm_eval,
                "lm-eval's own CLI with --model evalsuite and our tasks registered"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("evalsuite", COMMANDS, sys.argv[1:] if argv is None else argv)


def dispatch(prog: str, commands: dict[str, tuple[Callable[[list[str]], int], str]], argv: list[str]) -> int:
    """``prog COMMAND [options]``: the command list (``-h``), an unknown command (exit 2), or the command."""
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {prog} COMMAND [options]\n\ncommands:")
        for name, (_, help_) in commands.items():
            print(f"  {name:<10} {help_}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in commands:
        print(f"{prog}: error: unknown command {name!r} (try: {', '.join(commands)})", file=sys.stderr)
        return 2
    return run_command(f"{prog} {name}", lambda: commands[name][0](rest))


def run_command(prog: str, command: Callable[[], int]) -> int:
    """``command()``'s exit code, with the contract's one-line errors: a user mistake (``EvalsuiteError``) or a
    file-system error prints one line naming it and exits 2; Ctrl-C says the finished units are kept."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return command()
    except EvalsuiteError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # never exit 1, which ``check`` reserves for "a metric got worse"
        print(f"{prog}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished units are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
