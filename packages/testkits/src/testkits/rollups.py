"""What the rollup suites (PostgreSQL, Parquet) share: the rollup path must answer like the exact path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from llamonitor.backends.pg_rollups import NS_PER_DAY
from llamonitor.query import EventFilter
from llamonitor.query.summary import GroupStats
from llamonitor.schema.events import MetricEvent, ns_to_datetime

from testkits.storage import BASE_NS


def close_groups(got: list[GroupStats], want: list[GroupStats]) -> None:
    """Exact counts and sums; percentiles within the histogram's 2 %."""
    assert [g.key for g in got] == [g.key for g in want]
    for a, b in zip(got, want, strict=True):
        assert (a.events, a.errors, a.input_tokens, a.output_tokens) == (b.events, b.errors, b.input_tokens,
                                                                           b.output_tokens), a.key
        assert a.cost_usd == pytest.approx(b.cost_usd, rel=1e-9) if b.cost_usd is not None else a.cost_usd is None
        assert a.latency.mean_ms == pytest.approx(b.latency.mean_ms, rel=1e-9)
        assert a.latency.max_ms == b.latency.max_ms
        for x, y in ((a.latency.p50_ms, b.latency.p50_ms), (a.latency.p95_ms, b.latency.p95_ms),
                     (a.latency.p99_ms, b.latency.p99_ms)):
            assert x == pytest.approx(y, rel=0.02), a.key


#: time ranges that cut days (and files) in the middle, and key filters
def filters(events: list[MetricEvent]) -> list[EventFilter]:
    t0 = ns_to_datetime(BASE_NS + NS_PER_DAY // 3)
    return [EventFilter(start=t0, end=t0 + timedelta(days=3, hours=5)), EventFilter(start=t0),
            EventFilter(end=t0 + timedelta(days=2)), EventFilter(start=t0, end=t0 + timedelta(hours=7)),
            EventFilter(start=t0, operation_name=events[0].operation_name),
            EventFilter(model="gpt-4o-mini", agent_name="writer — ü")]


async def same_answers(fast: Any, slow: Any, events: list[MetricEvent]) -> None:
    """``fast`` (rollups) answers summary, aggregates and costs like ``slow`` (exact), filtered or not."""
    a, b = await fast.summary(), await slow.summary()
    assert (a.total_events, a.errors, a.sessions, a.traces, a.input_tokens, a.output_tokens, a.priced_events,
            a.first_event, a.last_event) == (b.total_events, b.errors, b.sessions, b.traces, b.input_tokens,
                                             b.output_tokens, b.priced_events, b.first_event, b.last_event)
    assert a.total_cost_usd == pytest.approx(b.total_cost_usd, rel=1e-9)
    assert a.latency.p95_ms == pytest.approx(b.latency.p95_ms, rel=0.02)
    for name in ("by_model", "by_agent", "by_operation"):
        close_groups(getattr(a, name), getattr(b, name))
    for f in filters(events):
        for by in ("operation", "model", "agent"):
            close_groups(await fast.aggregates(by, f), await slow.aggregates(by, f))
        for by in ("model", "operation", "agent", "day"):
            got, want = await fast.costs(by, f), await slow.costs(by, f)
            assert [(r.key, r.events, r.priced_events, r.input_tokens, r.output_tokens) for r in got] == [
                (r.key, r.events, r.priced_events, r.input_tokens, r.output_tokens) for r in want]
            for r, w in zip(got, want, strict=True):
                assert r.total_cost_usd == (pytest.approx(w.total_cost_usd, rel=1e-9)
                                            if w.total_cost_usd is not None else None)
        if f.operation_name is None and f.model is None:
            s, x = await fast.summary(f), await slow.summary(f)
            assert (s.total_events, s.sessions, s.traces, s.errors) == (x.total_events, x.sessions, x.traces,
                                                                        x.errors)
