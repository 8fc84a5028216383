"""The report stage: what a reader or a CI job sees of compared runs.

* :mod:`evalsuite.report.publish` — ``LEADERBOARD.md`` (jinja2), CSV/JSON tables and PNG plots;
* :mod:`evalsuite.report.check` — the CI regression gate (exit 0 / 1 / 2) and its pull-request comment.

Both read typed rows from :mod:`evalsuite.compare`'s public modules and never pair or test records
themselves. The verbs are the package's: ``evalsuite.publish(...)`` and ``evalsuite.check(...)``.
This package exports no names of its own, so a subpackage never stands where a verb is expected
(``evalsuite.report.publish`` is always the subpackage, ``evalsuite.publish`` always the function).
"""
