"""The demo's rule segments: one per behaviour the personas of the population show, so every
segment has members and offers have audiences to target.

The segments are data (``data/demo_segments.json``); their rules follow the missing-value
semantics of rules.py. The high-value threshold was chosen from the generated population
(seed 7, 10,000 customers): about 12% qualify.
"""

from __future__ import annotations

from engine.domain.segments import StoredSegment
from engine.synthetic.tables import table

__all__ = ["HIGH_VALUE_REVENUE_90D", "demo_segments"]


def demo_segments() -> dict[str, StoredSegment]:
    """The rule segments offers target, fresh on every call (callers may change them)."""
    return {
        segment_id: StoredSegment(kind="rule", **fields)
        for segment_id, fields in table("demo_segments").items()
    }


# Revenue over 90 days that makes a customer high value, as the segment's rule says it.
HIGH_VALUE_REVENUE_90D: int = table("demo_segments")["high_value"]["rule"]["all"][0]["value"]
