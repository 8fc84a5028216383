"""The CI regression gate: a candidate run against a committed reference, one exit code.

``check(reference, candidate, margins=...)`` runs a one-sided paired test per
model and headline metric (is the candidate worse by more than the margin?);
``CheckResult.exit_code`` is 0 or 1 and ``to_markdown()`` is a pull-request
comment. Defaults and tests per metric: :mod:`evalsuite.report.check._gate`.
"""

from __future__ import annotations

from evalsuite.report.check._cli import main_check
from evalsuite.report.check._gate import DEFAULT_MARGINS, CheckResult, CheckRow, check, parse_margins

__all__ = ["DEFAULT_MARGINS", "CheckResult", "CheckRow", "check", "main_check", "parse_margins"]
