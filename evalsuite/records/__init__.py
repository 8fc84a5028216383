"""Run records: the versioned, on-disk contract between run, compare, publish and check.

Layout::

    results/<suite>/<run-id>/manifest.json
    results/<suite>/<run-id>/units/<model>/<task>/metrics.json   (written last: its presence means done)
    results/<suite>/<run-id>/units/<model>/<task>/samples.jsonl  (one row per scored item)
"""

from evalsuite.records.io import (
    atomic_write_json,
    atomic_write_text,
    find_run_dir,
    load_run,
    read_unit,
    unit_dir,
    write_unit,
)
from evalsuite.records.schema import (
    SCHEMA_VERSION,
    MetricRecord,
    RunManifest,
    RunRecord,
    SampleRecord,
    UnitRecord,
)

__all__ = [
    "SCHEMA_VERSION", "MetricRecord", "RunManifest", "RunRecord", "SampleRecord", "UnitRecord",
    "atomic_write_json", "atomic_write_text", "find_run_dir", "load_run", "read_unit", "unit_dir", "write_unit",
]
