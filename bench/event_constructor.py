"""Cost of building one MetricEvent the way the writer does (all keywords given).

Run: ``uv run python bench/event_constructor.py [n]``; prints ns per construction (best of 7).
The seed-compatible constructor fills ids and clocks only when left out; this measures what the
writer pays for that test.
"""

from __future__ import annotations

import sys
import timeit

from llamonitor.schema.events import MetricEvent


def build() -> MetricEvent:
    return MetricEvent(event_id="e", session_id="s", trace_id="t", span_id="x", parent_span_id=None,
                       operation_name="op", operation_type="llm_call", start_time_ns=1, end_time_ns=2,
                       duration_ms=0.001, model=None, provider=None, usage=None, agent=None, custom_attributes={})


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    best = min(timeit.repeat(build, number=n, repeat=7)) / n
    print(f"MetricEvent(...) as the writer calls it: {best * 1e9:.0f} ns per event (best of 7 x {n:,})")
