"""``QueryBackend.timeseries`` on all four backends, against a reference computed in Python."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from llamonitor.query import EventFilter, create_query_backend
from llamonitor.query.types import bucket_plan
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent, datetime_to_ns, ns_to_datetime
from testkits.storage import BASE_NS, _cost, _tin, _tout, make_events, store


def reference(events: list[MetricEvent], lo: int, hi: int, buckets: int) -> list[dict[str, object]]:
    _, edges = bucket_plan(lo, hi, buckets)
    out = []
    for a, b in edges:
        inside = [e for e in events if a <= e.start_time_ns < b]
        durations = [e.duration_ms for e in inside]
        out.append({"events": len(inside), "errors": sum(e.error for e in inside),
                    "tokens": sum((_tin(e) or 0) + (_tout(e) or 0) for e in inside),
                    "cost": sum(_cost(e) or 0.0 for e in inside),
                    "p95": float(np.percentile(durations, 95)) if durations else None, "start": a, "end": b})
    return out


def check(got: list, want: list[dict[str, object]]) -> None:  # type: ignore[type-arg]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g.events, g.errors, g.total_tokens) == (w["events"], w["errors"], w["tokens"])
        assert g.cost_usd == pytest.approx(w["cost"], rel=1e-9, abs=1e-12)
        assert g.p95_ms == (pytest.approx(w["p95"], rel=1e-9) if w["p95"] is not None else None)
        assert (g.start, g.end) == (ns_to_datetime(int(w["start"])), ns_to_datetime(int(w["end"])))  # type: ignore[arg-type]


async def test_timeseries_matches_a_python_reference(storage_config: StorageConfig) -> None:
    events = make_events(400, seed=21, days=3)
    await store(storage_config, events)
    query = create_query_backend(storage_config)
    try:
        lo = min(e.start_time_ns for e in events)
        hi = max(e.start_time_ns for e in events) + 1
        check(await query.timeseries(buckets=7), reference(events, lo, hi, 7))
        # an explicit range (events outside it are left out), wider than the data: empty slices
        start = ns_to_datetime(BASE_NS + 3_600_000_000_000)
        end = start + timedelta(days=4)
        f = EventFilter(start=start, end=end)
        series = await query.timeseries(f, buckets=12)
        check(series, reference(events, datetime_to_ns(start), datetime_to_ns(end), 12))
        assert series[-1].events == 0 and series[-1].p95_ms is None
        # with another filter
        chat = [e for e in events if e.operation_name == "chat"]
        check(await query.timeseries(EventFilter(operation_name="chat"), buckets=3),
              reference(chat, min(e.start_time_ns for e in chat), max(e.start_time_ns for e in chat) + 1, 3))
        assert await query.timeseries(EventFilter(session_id="nobody"), buckets=5) == []
        with pytest.raises(ValueError, match="buckets"):
            await query.timeseries(buckets=0)
    finally:
        await query.close()


def test_bucket_plan_covers_the_range_exactly() -> None:
    step, edges = bucket_plan(10, 33, 4)
    assert step == 6 and edges == [(10, 16), (16, 22), (22, 28), (28, 33)]
    assert bucket_plan(0, 2, 5)[1] == [(0, 1), (1, 2)]  # fewer slices than asked when the range is tiny
