"""Library versions that differ between the reference and the candidate run: information, not a verdict.

A tokenizer or model-code release can move scores without any change of ours, so
a gate's summary names every library whose version differs (from each run's
manifest); whether the difference matters is what the paired tests say.
"""

from __future__ import annotations

from evalsuite.records import RunRecord


def version_notes(reference: RunRecord, candidate: RunRecord) -> list[str]:
    """One note per library whose recorded version differs (absent on one side counts as differing)."""
    ref = (reference.manifest.provenance or {}).get("versions") or {}
    cand = (candidate.manifest.provenance or {}).get("versions") or {}
    return [f"library version differs: {name} {ref.get(name) or 'not recorded'} (reference) → "
            f"{cand.get(name) or 'not recorded'} (candidate)"
            for name in sorted(set(ref) | set(cand)) if ref.get(name) != cand.get(name)]
