"""What a run is asked to do, parsed once at the boundary into frozen types; imports nothing but errors.

* :mod:`.suite`: suite files (``tasks/suites/*.yaml``) → :class:`SuiteSpec`, :class:`ModelSpec`, :class:`TaskSpec`;
* :mod:`.source`: :class:`SourceSpec`, where a model comes from (a suite's ``source:``, lm-eval's ``pretrained=``);
* :mod:`.yarn`: :class:`YarnSpec`, static YaRN;
* :mod:`.engine`: :class:`EngineConfig`, the engine's knobs, from the suite to the kernels.
"""

from evalsuite.spec.engine import EngineConfig
from evalsuite.spec.source import SourceSpec
from evalsuite.spec.suite import ModelSpec, SuiteSpec, TaskSpec, load_suite, parse_suite, safe_name
from evalsuite.spec.yarn import YarnSpec

__all__ = ["EngineConfig", "ModelSpec", "SourceSpec", "SuiteSpec", "TaskSpec", "YarnSpec", "load_suite",
           "parse_suite", "safe_name"]
