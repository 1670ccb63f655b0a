"""One contract, four backends: every case runs on Parquet, PostgreSQL, MariaDB and ClickHouse (chDB)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from llamonitor.backends.registry import create_backend
from llamonitor.query import EventFilter, QueryBackend, create_query_backend
from llamonitor.query.types import MAX_PAGE
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent, ns_to_datetime
from testkits.storage import (
    BASE_NS,
    edge_events,
    group_key,
    make_events,
    ordered,
    ref_costs,
    ref_groups,
    ref_sessions,
)

approx = pytest.approx


def same(value: float | None, expected: float | None) -> bool:
    """Equal up to float summation order (or both ``None``)."""
    if value is None or expected is None:
        return value is expected
    return bool(value == approx(expected, rel=1e-9, abs=1e-12))


async def write(config: StorageConfig, *batches: Sequence[MetricEvent]) -> None:
    backend = create_backend(config)
    await backend.initialize()
    try:
        for batch in batches:
            await backend.write_batch(batch)
    finally:
        await backend.close()


async def all_events(query: QueryBackend, f: EventFilter | None = None) -> list[MetricEvent]:
    page = await query.events(f, limit=MAX_PAGE)
    assert page.next_cursor is None
    return page.events


async def test_every_field_reads_back_exactly(storage_config: StorageConfig) -> None:
    events = make_events(300) + edge_events()
    await write(storage_config, events[:150], events[150:])
    query = create_query_backend(storage_config)
    assert isinstance(query, QueryBackend)
    try:
        got = await all_events(query)
        expected = ordered(events)
        assert [e.event_id for e in got] == [e.event_id for e in expected]
        for a, b in zip(got, expected, strict=True):
            assert a == b, a.event_id
        big = await query.trace_events("t", session_id="edge ' \" ; DROP TABLE x; --")
        assert [e.event_id for e in big] == ["edge-ünïcödé-🚀"]
        assert big[0].custom_attributes["big"] == ["y" * 1000] * 200
    finally:
        await query.close()


async def test_redelivered_batch_is_stored_once(storage_config: StorageConfig) -> None:
    events = make_events(200, seed=3)
    await write(storage_config, events, events, events[50:120])
    query = create_query_backend(storage_config)
    try:
        got = await all_events(query)
        assert [e.event_id for e in got] == [e.event_id for e in ordered(events)]
        summary = await query.summary()
        assert summary.total_events == 200
        costs = {r.key: r for r in await query.costs("model")}
        assert sum(r.events for r in costs.values()) == 200
    finally:
        await query.close()


async def test_pagination_is_stable_by_offset_and_cursor(storage_config: StorageConfig) -> None:
    events = make_events(257, seed=11)
    await write(storage_config, events)
    expected = [e.event_id for e in ordered(events)]
    query = create_query_backend(storage_config)
    try:
        by_offset: list[str] = []
        for offset in range(0, 300, 40):
            by_offset += [e.event_id for e in (await query.events(limit=40, offset=offset)).events]
        assert by_offset == expected
        by_cursor: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await query.events(limit=25, cursor=cursor)
            by_cursor += [e.event_id for e in page.events]
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert by_cursor == expected and pages == 11
        # Later writes (newer events) never move what an earlier cursor continues with.
        first = await query.events(limit=30)
        later = make_events(20, seed=12)
        for e in later:
            e.start_time_ns += 10 * 86_400 * 10**9
            e.end_time_ns += 10 * 86_400 * 10**9
        await write(storage_config, later)
        second = await query.events(limit=30, cursor=first.next_cursor)
        assert [e.event_id for e in second.events] == expected[30:60]
    finally:
        await query.close()


async def test_filters_match_python(storage_config: StorageConfig) -> None:
    events = make_events(400, seed=5)
    await write(storage_config, events)
    query = create_query_backend(storage_config)
    start, end = ns_to_datetime(BASE_NS + 86_400 * 10**9), ns_to_datetime(BASE_NS + 2 * 86_400 * 10**9)
    cases = [
        (EventFilter(start=start, end=end), lambda e: BASE_NS + 86_400 * 10**9 <= e.start_time_ns
         < BASE_NS + 2 * 86_400 * 10**9),
        (EventFilter(session_id="session-2"), lambda e: e.session_id == "session-2"),
        (EventFilter(trace_id="trace-4"), lambda e: e.trace_id == "trace-4"),
        (EventFilter(operation_name="summarise ✓"), lambda e: e.operation_name == "summarise ✓"),
        (EventFilter(model="gpt-4o-mini"), lambda e: e.model == "gpt-4o-mini"),
        (EventFilter(agent_name="writer — ü"), lambda e: e.agent is not None and e.agent.agent_name == "writer — ü"),
        (EventFilter(errors_only=True), lambda e: e.error),
        (EventFilter(start=start, session_id="session-1", errors_only=True),
         lambda e: e.start_time_ns >= BASE_NS + 86_400 * 10**9 and e.session_id == "session-1" and e.error),
        (EventFilter(session_id="no such session' OR '1'='1"), lambda e: False),
    ]
    try:
        for f, keep in cases:
            got = [e.event_id for e in await all_events(query, f)]
            assert got == [e.event_id for e in ordered(events) if keep(e)], f
            assert (await query.summary(f)).total_events == len(got)
    finally:
        await query.close()


def _check_groups(groups: list, reference: dict) -> None:
    assert {g.key for g in groups} == set(reference)
    assert [g.events for g in groups] == sorted((r["events"] for r in reference.values()), reverse=True)
    for g in groups:
        r = reference[g.key]
        assert (g.events, g.errors, g.input_tokens, g.output_tokens) == (
            r["events"], r["errors"], r["input_tokens"], r["output_tokens"]), g.key
        assert g.total_tokens == r["input_tokens"] + r["output_tokens"]
        assert same(g.cost_usd, r["cost_usd"])
        lat = g.latency
        assert (lat.p50_ms, lat.p95_ms, lat.p99_ms, lat.mean_ms, lat.max_ms) == approx(
            (r["p50"], r["p95"], r["p99"], r["mean"], r["max"]), rel=1e-9), g.key


async def test_aggregates_equal_a_python_reference(storage_config: StorageConfig) -> None:
    events = make_events(600, seed=9)
    await write(storage_config, events)
    query = create_query_backend(storage_config)
    try:
        for by in ("operation", "model", "agent"):
            _check_groups(await query.aggregates(by), ref_groups(events, by))  # type: ignore[arg-type]
        some = [e for e in events if e.session_id == "session-3"]
        _check_groups(await query.aggregates("model", EventFilter(session_id="session-3")), ref_groups(some, "model"))
        for by in ("model", "operation", "session", "day", "agent"):
            rows = await query.costs(by)  # type: ignore[arg-type]
            ref = ref_costs(events, by)
            assert {r.key for r in rows} == set(ref), by
            for row in rows:
                want = ref[row.key]
                assert (row.events, row.priced_events, row.input_tokens, row.output_tokens) == (
                    want["events"], want["priced_events"], want["input_tokens"], want["output_tokens"])
                for name in ("input_cost_usd", "output_cost_usd", "total_cost_usd"):
                    assert same(getattr(row, name), want[name]), (by, row.key, name)
            if by == "day":
                assert [r.key for r in rows] == sorted(ref)
            else:
                totals = [r.total_cost_usd or 0.0 for r in rows]
                assert totals == sorted(totals, reverse=True)
        summary = await query.summary()
        assert summary.total_events == 600
        assert summary.errors == sum(e.error for e in events)
        assert summary.sessions == 5 and summary.traces == len({(e.session_id, e.trace_id) for e in events})
        overall = ref_groups(events, "operation")
        assert summary.input_tokens == sum(r["input_tokens"] for r in overall.values())
        assert summary.total_cost_usd == approx(sum(r["cost_usd"] or 0 for r in overall.values()), rel=1e-9)
        assert summary.priced_events == sum(e.cost is not None for e in events)
        assert summary.first_event == ns_to_datetime(min(e.start_time_ns for e in events))
        assert summary.last_event == ns_to_datetime(max(e.end_time_ns for e in events))
        whole = ref_groups([*events], "session")
        import numpy as np

        durations = np.array([e.duration_ms for e in events])
        assert summary.latency.p95_ms == approx(float(np.percentile(durations, 95)), rel=1e-9)
        assert len(summary.by_model) == 4 and len(summary.by_operation) == 4 and len(whole) == 5
    finally:
        await query.close()


async def test_sessions_traces_and_trace_events(storage_config: StorageConfig) -> None:
    events = make_events(300, seed=21)
    await write(storage_config, events)
    query = create_query_backend(storage_config)
    try:
        sessions = await query.sessions()
        ref = ref_sessions(events)
        assert [s.session_id for s in sessions] == sorted(ref, key=lambda k: (-ref[k]["last_ns"], k))
        for s in sessions:
            r = ref[s.session_id]
            assert (s.events, s.errors, s.traces, s.input_tokens, s.output_tokens) == (
                r["events"], r["errors"], r["traces"], r["input_tokens"], r["output_tokens"])
            assert s.first_event == ns_to_datetime(r["first_ns"]) and s.last_event == ns_to_datetime(r["last_ns"])
            assert same(s.total_cost_usd, r["total_cost_usd"])
        assert [s.session_id for s in await query.sessions(limit=2, offset=1)] == [s.session_id for s in sessions[1:3]]
        later = ns_to_datetime(BASE_NS) + timedelta(days=2)
        recent = await query.sessions(EventFilter(start=later))
        assert sum(s.events for s in recent) == sum(e.start_time_ns >= BASE_NS + 2 * 86_400 * 10**9 for e in events)

        traces = await query.traces("session-1")
        members = [e for e in events if e.session_id == "session-1"]
        trace_ids = {e.trace_id for e in members}
        assert {t.trace_id for t in traces} == trace_ids
        firsts = [t.first_event for t in traces]
        assert firsts == sorted(firsts)
        for t in traces:
            mine = [e for e in members if e.trace_id == t.trace_id]
            assert t.events == len(mine) and t.errors == sum(e.error for e in mine)
            span = max(e.end_time_ns for e in mine) - min(e.start_time_ns for e in mine)
            assert t.duration_ms == approx(span / 1e6)
            got = await query.trace_events(t.trace_id, session_id="session-1")
            assert got == ordered(mine)
        assert group_key(events[0], "session") == events[0].session_id
        assert await query.traces("no-such-session") == []
    finally:
        await query.close()


async def test_empty_store_answers_empty(storage_config: StorageConfig) -> None:
    query = create_query_backend(storage_config)
    try:
        assert (await query.events()).events == []
        assert await query.sessions() == []
        assert await query.aggregates("model") == []
        assert await query.costs("day") == []
        summary = await query.summary()
        assert summary.total_events == 0 and summary.first_event is None and summary.latency.p50_ms is None
    finally:
        await query.close()


async def test_nul_characters_never_block_a_batch(storage_config: StorageConfig) -> None:
    nul = make_events(3, seed=11)
    nul[0].error_message = "bad\x00byte"
    nul[1].custom_attributes = {"raw": "a\x00b"}
    await write(storage_config, nul)
    query = create_query_backend(storage_config)
    try:
        got = {e.event_id: e for e in await all_events(query)}
        assert set(got) == {e.event_id for e in nul}
        # PostgreSQL cannot store NUL in text or jsonb: it becomes U+FFFD on every backend alike.
        replacement = "\ufffd"
        assert got[nul[0].event_id].error_message == f"bad{replacement}byte"
        assert got[nul[1].event_id].custom_attributes == {"raw": f"a{replacement}b"}
    finally:
        await query.close()
