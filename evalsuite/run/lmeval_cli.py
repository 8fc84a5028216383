"""``evalsuite lm-eval ...``: lm-eval's own command line with the evalsuite adapter and tasks registered.

Stock ``lm_eval --model evalsuite`` cannot find the adapter (lm-eval 0.4 reads no
entry points; a model registers by being imported), and ``--include_path`` takes
one folder. This command imports the adapter, then runs lm-eval's own CLI on the
arguments exactly as given, every flag intact, with evalsuite's task folder
added to the task search path (before any ``--include_path`` the user gives,
which may be repeated here)::

    evalsuite lm-eval --model evalsuite --model_args pretrained=/ckpt --tasks es_hellaswag --batch_size 8
    evalsuite lm-eval --model hf --model_args pretrained=/ckpt --tasks es_mmlu --num_fewshot 5
    evalsuite lm-eval ls tasks
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from evalsuite.packaged import tasks_dir

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
