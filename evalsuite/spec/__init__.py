"""What a run is asked to do, parsed once at the boundary into frozen types; nothing here imports torch.

* :mod:`.suite`: suite files (``tasks/suites/*.yaml``) → :class:`SuiteSpec`, :class:`ModelSpec`, :class:`TaskSpec`.
"""

from evalsuite.spec.suite import (
    TRUNCATIONS,
    ModelSpec,
    SourceSpec,
    SuiteSpec,
    TaskSpec,
    YarnConfig,
    load_suite,
    parse_suite,
    safe_name,
)

__all__ = ["TRUNCATIONS", "ModelSpec", "SourceSpec", "SuiteSpec", "TaskSpec", "YarnConfig", "load_suite",
           "parse_suite", "safe_name"]
