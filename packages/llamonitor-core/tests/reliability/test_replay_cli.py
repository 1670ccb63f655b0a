"""``llamonitor replay`` takes serve's storage options and reports each file; no bad file stops it."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest
from llamonitor.cli.main import main
from llamonitor.schema.events import MetricEvent
from llamonitor.transport.spill import SpillStore
from testkits.storage import PG_DSN, unique_name


def _events(prefix: str, n: int, operation: str = "op") -> list[MetricEvent]:
    start = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    return [MetricEvent.at(event_id=f"{prefix}{i}", session_id="s", trace_id="t", span_id=f"{prefix}{i}",
                           operation_name=operation, start_time=start, end_time=start + timedelta(milliseconds=3),
                           duration_ms=3.0) for i in range(n)]


async def _pg(sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(PG_DSN)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


@pytest.fixture
def schema() -> str:
    name = unique_name()
    yield name
    asyncio.run(_pg(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def test_replay_writes_into_the_table_and_schema_it_is_given(tmp_path: Path, schema: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    spill = tmp_path / "spill"
    SpillStore(spill).write_batch("postgres", _events("a", 30))
    SpillStore(spill).write_batch("postgres", _events("b", 20))
    code = main(["replay", "--spill-dir", str(spill), "--backend", "postgres", "--connection-string", PG_DSN,
                 "--schema", schema, "--table", "app_events"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"to postgres table {schema}.app_events" in out
    assert ": 30 written" in out and ": 20 written" in out
    rows = asyncio.run(_pg(f'SELECT count(*) AS n FROM "{schema}"."app_events"'))
    assert rows[0]["n"] == 50
    assert not asyncio.run(_pg(f"SELECT 1 FROM pg_tables WHERE schemaname = '{schema}' "
                               "AND tablename = 'metric_events'"))


def test_a_refused_event_is_dead_lettered_and_the_replay_goes_on(tmp_path: Path, schema: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Three files; the server refuses one event of the first (a CHECK the DBA added): 1 dead letter, 0 stuck."""
    spill = tmp_path / "spill"
    store = SpillStore(spill)
    store.write_batch("postgres", [*_events("a", 5), *_events("x", 1, operation="forbidden"), *_events("c", 4)])
    store.write_batch("postgres", _events("d", 7))
    store.append_overflow(_events("e", 1)[0])
    store.close_overflow()
    base = ["--spill-dir", str(spill), "--backend", "postgres", "--connection-string", PG_DSN, "--schema", schema]
    assert main(["replay", *base]) == 0  # nothing to dead-letter yet: all 18 written, creates the table
    asyncio.run(_pg(f'DELETE FROM "{schema}"."metric_events"'))
    asyncio.run(_pg(f"""ALTER TABLE "{schema}"."metric_events" ADD CONSTRAINT no_forbidden
                       CHECK (operation_name <> 'forbidden')"""))
    capsys.readouterr()
    store.write_batch("postgres", [*_events("a", 5), *_events("x", 1, operation="forbidden"), *_events("c", 4)])
    store.write_batch("postgres", _events("d", 7))
    assert main(["replay", *base, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events_replayed"] == 16 and report["events_dead_lettered"] == 1 and report["failures"] == []
    assert sorted((f["written"], f["dead_lettered"]) for f in report["files"]) == [(7, 0), (9, 1)]
    assert SpillStore(spill).pending() == []
    dead = [json.loads(line) for p in SpillStore(spill).dead_letters() for line in p.read_text().splitlines()]
    assert [d["event"]["event_id"] for d in dead] == ["x0"] and "no_forbidden" in dead[0]["error"]
    rows = asyncio.run(_pg(f'SELECT count(*) AS n FROM "{schema}"."metric_events"'))
    assert rows[0]["n"] == 16
