"""PostgreSQL rollups: the summary path that does not scan every event, checked against the exact path.

Every case runs on the real server. ``exact_percentile_limit=0`` forces the rollups; a second
query backend with rollups switched off answers the same question from the events, exactly.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator

import asyncpg
import numpy as np
import pytest
from llamonitor.backends import pg_rollups
from llamonitor.backends.postgres import PostgresBackend
from llamonitor.backends.registry import create_backend
from llamonitor.backends.sql_common import StorageWriteError
from llamonitor.query import EventFilter, create_query_backend
from llamonitor.query.rollups import bin_of, histogram_quantiles, plan, usable
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent, ns_to_datetime
from testkits.rollups import same_answers
from testkits.storage import PG_DSN, drop, make_events, server_config, unique_name

DAY = pg_rollups.NS_PER_DAY


@pytest.fixture
async def pg() -> AsyncIterator[StorageConfig]:
    config = server_config("postgres", unique_name(), options={"exact_percentile_limit": 0})
    try:
        yield config
    finally:
        await drop(config)


async def write(config: StorageConfig, *batches: list[MetricEvent]) -> PostgresBackend:
    backend = create_backend(config)
    assert isinstance(backend, PostgresBackend)
    await backend.initialize()
    for batch in batches:
        await backend.write_batch(batch)
    return backend


def exact(config: StorageConfig) -> StorageConfig:
    return config.model_copy(update={"options": {"exact_percentile_limit": 10**12}})


async def test_rollups_answer_like_the_events_within_the_documented_bounds(pg: StorageConfig) -> None:
    events = make_events(3000, seed=5, days=6)
    backend = await write(pg, events[:1000], events[1000:])
    await backend.close()
    fast, slow = create_query_backend(pg), create_query_backend(exact(pg))
    try:
        reader = fast._reader  # type: ignore[attr-defined]
        assert reader is not None and await reader.available()
        assert await fast._rollups(None, keys=False, percentiles=True) is reader  # type: ignore[attr-defined]
        assert await slow._rollups(None, keys=False, percentiles=True) is None  # type: ignore[attr-defined]
        await same_answers(fast, slow, events)
    finally:
        await fast.close()
        await slow.close()


async def test_redelivered_rows_are_counted_once_and_the_trigger_sees_only_new_rows(pg: StorageConfig) -> None:
    events = make_events(500, seed=9)
    backend = await write(pg, events, events, events[100:300], events[450:] + make_events(20, seed=99))
    try:
        conn = await asyncpg.connect(PG_DSN)
        try:
            names = backend.rollup_names
            stored = await conn.fetchval(f"SELECT COUNT(*) FROM {backend.qualified}")
            assert stored == 520
            assert await conn.fetchval(f"SELECT SUM(events) FROM {names.day}") == 520
            assert await conn.fetchval(f"SELECT SUM(h.value::bigint) FROM {names.day}, "
                                       "jsonb_each_text(latency) AS h") == 520
            assert await conn.fetchval(f"SELECT COUNT(*) FROM {names.trace}") == await conn.fetchval(
                f"SELECT COUNT(*) FROM (SELECT DISTINCT session_id, trace_id FROM {backend.qualified}) AS d")
        finally:
            await conn.close()
        assert backend.redelivered_batches == 3
    finally:
        await backend.close()


async def test_deleting_events_marks_rollups_stale_until_rebuilt(pg: StorageConfig) -> None:
    events = make_events(400, seed=4)
    backend = await write(pg, events)
    query = create_query_backend(pg)
    try:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f"DELETE FROM {backend.qualified} WHERE event_id = ANY($1::text[])",
                               [e.event_id for e in events[:150]])
            reader = query._reader  # type: ignore[attr-defined]
            assert not await reader.available()
            assert (await query.summary()).total_events == 250  # answered from the events
            await pg_rollups.rebuild(conn, backend.rollup_names, backend.qualified)
            assert await reader.available()
            assert await query._rollups(None, keys=False, percentiles=True) is reader  # type: ignore[attr-defined]
            assert (await query.summary()).total_events == 250
        finally:
            await conn.close()
    finally:
        await query.close()
        await backend.close()


async def test_an_existing_table_gets_its_rollups_backfilled(pg: StorageConfig) -> None:
    events = make_events(300, seed=2)
    plain = pg.model_copy(update={"options": {"rollups": False}})
    backend = await write(plain, events)
    conn = await asyncpg.connect(PG_DSN)
    try:
        assert not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", backend.rollup_names.state)
        await backend.close()
        again = await write(pg, make_events(10, seed=77))  # same table, rollups on: created and backfilled
        await again.close()
        assert await conn.fetchval(f"SELECT SUM(events) FROM {again.rollup_names.day}") == 310
    finally:
        await conn.close()


async def test_hostile_durations_do_not_break_inserts(pg: StorageConfig) -> None:
    base = make_events(5, seed=1)
    for event, duration in zip(base, (0.0, -3.5, math.inf, math.nan, 1e-300), strict=True):
        event.duration_ms = duration
    backend = await write(pg, base)
    try:
        conn = await asyncpg.connect(PG_DSN)
        try:
            bins = [int(r[0]) for r in await conn.fetch(
                f"SELECT h.key FROM {backend.rollup_names.day}, jsonb_each_text(latency) AS h")]
        finally:
            await conn.close()
        assert bins.count(pg_rollups.SPECIAL_BIN) == 4 and bin_of(1e-300) in bins
    finally:
        await backend.close()


async def test_python_bins_match_the_sql_trigger() -> None:
    values = [1e-9, 0.001, 0.5, 1.0, 1.02, 3.14159, 20.0, 999.999, 1e6, 86_400_000.0]
    conn = await asyncpg.connect(PG_DSN)
    try:
        got = await conn.fetchval(f"SELECT array_agg(floor(ln(v) / ln({pg_rollups.GAMMA}))::integer ORDER BY o) "
                                  "FROM unnest($1::float8[]) WITH ORDINALITY AS u(v, o)", values)
    finally:
        await conn.close()
    assert list(got) == [bin_of(v) for v in values]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_histogram_quantiles_are_within_two_percent_of_numpy(seed: int) -> None:
    rnd = random.Random(seed)
    values = [rnd.lognormvariate(5, 1.2) for _ in range(5000)]
    hist: dict[int, int] = {}
    for v in values:
        hist[bin_of(v)] = hist.get(bin_of(v), 0) + 1
    got = histogram_quantiles(hist, min(values), max(values))
    want = np.percentile(values, [50, 95, 99])
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=0.02)
    assert histogram_quantiles({}, None, None) == [None, None, None]
    assert histogram_quantiles({bin_of(7.0): 1}, 7.0, 7.0) == [7.0, 7.0, 7.0]


def test_plan_splits_ranges_into_whole_days_and_edges() -> None:
    f = EventFilter(start=ns_to_datetime(2 * DAY + 5_000), end=ns_to_datetime(5 * DAY + 7_000))
    p = plan(f)
    assert (p.first_day, p.end_day) == (3, 5)
    assert p.edges == ((2 * DAY + 5_000, 3 * DAY), (5 * DAY, 5 * DAY + 7_000))
    aligned = plan(EventFilter(start=ns_to_datetime(2 * DAY), end=ns_to_datetime(4 * DAY)))
    assert (aligned.first_day, aligned.end_day, aligned.edges) == (2, 4, ())
    short = plan(EventFilter(start=ns_to_datetime(2 * DAY + 5_000), end=ns_to_datetime(2 * DAY + 9_000)))
    assert short.edges == ((2 * DAY + 5_000, 2 * DAY + 9_000),)
    assert plan(None) == plan(EventFilter())
    assert not usable(EventFilter(session_id="s"), keys=True)
    assert not usable(EventFilter(model="(none)"), keys=True)
    assert not usable(EventFilter(model="m"), keys=False)
    assert usable(EventFilter(model="m"), keys=True)


def test_bad_rollup_options_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="rollups"):
        create_backend(server_config("postgres", "x", options={"rollups": "yes"}))
    with pytest.raises(ValueError, match="exact_percentile_limit"):
        create_query_backend(server_config("postgres", "x", options={"exact_percentile_limit": -1}))
    for bad in (0, "2", True):
        with pytest.raises(ValueError, match="copy_streams"):
            create_backend(server_config("postgres", "x", options={"copy_streams": bad}))


async def test_a_batch_split_over_two_connections_lands_once_when_one_part_fails(pg: StorageConfig) -> None:
    events = make_events(4000, seed=21)
    # The second part's COPY fails (a CHECK refuses one of its rows) while the first commits; once
    # the check is gone, the redelivered batch must add the second part and nothing of the first.
    events[3500].error_message = "refused for now"
    backend = await write(pg)
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f"ALTER TABLE {backend.qualified} ADD CONSTRAINT for_now "
                           "CHECK (error_message IS DISTINCT FROM 'refused for now')")
        with pytest.raises(StorageWriteError) as refused:
            await backend.write_batch(events)
        assert refused.value.refused_data  # a data refusal: the writer isolates it, never retries it whole
        assert backend.copy_streams == 2
        assert 0 < await conn.fetchval(f"SELECT COUNT(*) FROM {backend.qualified}") < 4000
        await conn.execute(f"ALTER TABLE {backend.qualified} DROP CONSTRAINT for_now")
        await backend.write_batch(events)
        assert backend.redelivered_batches >= 1
        names = backend.rollup_names
        assert await conn.fetchval(f"SELECT COUNT(*) FROM {backend.qualified}") == 4000
        assert await conn.fetchval(f"SELECT SUM(events) FROM {names.day}") == 4000
        assert await conn.fetchval(f"SELECT COUNT(*) FROM {names.trace}") == len(
            {(e.session_id, e.trace_id) for e in events})
    finally:
        await conn.close()
        await backend.close()


async def test_a_role_that_cannot_create_rollups_still_stores_every_event(pg: StorageConfig,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    # the table belongs to someone else; this role may only read and insert (a managed database)
    owner = await write(pg.model_copy(update={"options": {"rollups": False}}))
    await owner.close()
    role = f"{pg.schema_name}_w"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE ROLE "{role}" LOGIN')
        await conn.execute(f'GRANT USAGE ON SCHEMA "{pg.schema_name}" TO "{role}"')
        await conn.execute(f'GRANT SELECT, INSERT ON "{pg.schema_name}"."events" TO "{role}"')
        limited = pg.model_copy(update={"connection_string": PG_DSN.replace("postgres@", f"{role}@")})
        events = make_events(120, seed=31)
        backend = await write(limited, events)  # initialize + write: no exception
        try:
            assert backend.rollups is False and "no summary rollups" in caplog.text
            assert await conn.fetchval(f'SELECT COUNT(*) FROM "{pg.schema_name}"."events"') == 120
        finally:
            await backend.close()
        query = create_query_backend(limited)
        try:
            assert (await query.summary()).total_events == 120  # from the events
        finally:
            await query.close()
    finally:
        await conn.execute(f'DROP OWNED BY "{role}"')
        await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        await conn.close()


def _costs(rows: list[object]) -> list[float]:
    """Costs to compare (``None``, nothing priced, as -1: approx cannot compare None)."""
    return [-1.0 if r.total_cost_usd is None else r.total_cost_usd for r in rows]  # type: ignore[attr-defined]


async def _unfiltered(fast: object, slow: object) -> None:
    from testkits.rollups import close_groups

    a, b = await fast.summary(), await slow.summary()  # type: ignore[attr-defined]
    assert (a.total_events, a.errors, a.sessions, a.traces, a.first_event, a.last_event) == (
        b.total_events, b.errors, b.sessions, b.traces, b.first_event, b.last_event)
    for by in ("operation", "model", "agent"):
        close_groups(await fast.aggregates(by), await slow.aggregates(by))  # type: ignore[attr-defined]
    for by in ("model", "day"):
        got, want = await fast.costs(by), await slow.costs(by)  # type: ignore[attr-defined]
        assert [(r.key, r.events, r.input_tokens) for r in got] == [(r.key, r.events, r.input_tokens) for r in want]
        assert _costs(got) == pytest.approx(_costs(want), rel=1e-9)


async def test_day_rows_are_merged_in_memory_and_only_changed_rows_are_read_again(pg: StorageConfig) -> None:
    events = make_events(1500, seed=21, days=4)
    backend = await write(pg, events[:900])
    fast, slow = create_query_backend(pg), create_query_backend(exact(pg))
    plain = create_query_backend(pg.model_copy(update={"options": {"rollups": False}}))
    try:
        await _unfiltered(fast, slow)
        reader = fast._reader  # type: ignore[attr-defined]
        assert reader._groups is not None and len(reader._rows) > 0  # answered from the rows in memory
        first_seen = reader._seen
        await backend.write_batch(events[900:])  # changes some day rows, adds others
        await _unfiltered(fast, slow)
        assert reader._seen > first_seen and reader._groups[0] == await reader.generation()
        # the session and trace rollups answer like the events
        sessions = await plain.sessions(limit=100)
        listed = await fast.sessions(limit=100)
        assert [(x.session_id, x.events, x.errors, x.traces, x.first_event, x.last_event, x.input_tokens,
                 x.output_tokens) for x in listed] == [
            (x.session_id, x.events, x.errors, x.traces, x.first_event, x.last_event, x.input_tokens,
             x.output_tokens) for x in sessions]
        assert _costs(listed) == pytest.approx(_costs(sessions), rel=1e-9)
        for s in sessions:
            want = await plain.traces(s.session_id)
            got = await fast.traces(s.session_id)
            assert [(t.trace_id, t.events, t.errors, t.first_event, t.last_event) for t in got] == [
                (t.trace_id, t.events, t.errors, t.first_event, t.last_event) for t in want]
            assert _costs(got) == pytest.approx(_costs(want), rel=1e-9)
        conn = await asyncpg.connect(PG_DSN)
        try:  # a rebuild re-stamps every row: all are read again, nothing counted twice
            await pg_rollups.rebuild(conn, backend.rollup_names, backend.qualified)
        finally:
            await conn.close()
        await _unfiltered(fast, slow)
    finally:
        for q in (fast, slow, plain):
            await q.close()
        await backend.close()
