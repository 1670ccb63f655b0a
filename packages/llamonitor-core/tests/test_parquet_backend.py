"""Parquet backend: fixed schema, partitions, atomic files, exact round trip; the query layer's cache."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from llamonitor import AgentIdentity, CostInfo, MetricEvent, StorageConfig, TextMetrics, TokenUsage
from llamonitor.backends.parquet import ParquetBackend
from llamonitor.query.parquet import ParquetQueryBackend
from llamonitor.query.parquet_files import ColumnCache, IdRange, overlapping
from llamonitor.query.types import EventFilter
from llamonitor.schema.arrow import EVENT_SCHEMA, table_to_events

T0 = datetime(2026, 11, 27, 23, 59, 59, 123456, tzinfo=timezone.utc)


def event(i: int, **kw: object) -> MetricEvent:
    base: dict[str, object] = dict(event_id=f"e{i}", session_id="s", trace_id="t", span_id=f"sp{i}",
                                   operation_name="op", start_time=T0 + timedelta(seconds=i),
                                   end_time=T0 + timedelta(seconds=i, milliseconds=5), duration_ms=5.0)
    base.update(kw)
    return MetricEvent.at(**base)  # type: ignore[arg-type]


def backend(tmp_path: Path, **kw: object) -> ParquetBackend:
    b = ParquetBackend(StorageConfig(output_dir=str(tmp_path), **kw))  # type: ignore[arg-type]
    asyncio.run(b.initialize())
    return b


def test_every_file_has_the_same_schema_whatever_the_batch_holds(tmp_path: Path) -> None:
    b = backend(tmp_path)
    b.write_sync([event(0)])  # nothing optional set
    b.write_sync([event(1, text_metrics=TextMetrics(char_count=5), usage=TokenUsage(input_tokens=3),
                        cost=CostInfo(total_cost_usd=0.5), agent=AgentIdentity(agent_name="a"),
                        custom_attributes={"k": [1, 2]}, error=True, error_type="E")])
    files = sorted(tmp_path.rglob("*.parquet"))
    assert len(files) == 2
    schemas = [pq.read_schema(f) for f in files]
    assert all(s.equals(EVENT_SCHEMA, check_metadata=False) for s in schemas)
    assert ds.dataset(str(tmp_path)).to_table().num_rows == 2  # no type drift between files


def test_round_trip_is_exact_including_unicode_and_nulls(tmp_path: Path) -> None:
    b = backend(tmp_path)
    original = event(7, model="gpt-4o", provider="openai", error_message="ünïcødé 💥 \x00 quote' \"",
                     custom_attributes={"nested": {"a": [1, None, "ß"]}, "big": "x" * 100_000},
                     text_metrics=TextMetrics(char_count=1, token_reliability="exact"),
                     agent=AgentIdentity(framework="crewai", agent_id="42", agent_name="Researcher",
                                         graph_step=3, handoff_from="Planner"))
    b.write_sync([original])
    (back,) = table_to_events(ds.dataset(str(tmp_path)).to_table())
    assert back == original


def test_date_partitions_use_the_event_utc_date(tmp_path: Path) -> None:
    b = backend(tmp_path)
    b.write_sync([event(0), event(1)])  # 23:59:59 and 00:00:00 next day
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-27", "2026-11-28"]


def test_session_partitions_are_sanitised(tmp_path: Path) -> None:
    b = backend(tmp_path, partition_by="session_id")
    b.write_sync([event(0, session_id="../../etc/passwd"), event(1, session_id="user 7/ä")])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert all("/" not in n and not n.startswith(".") for n in names)
    assert all(p.resolve().parent == tmp_path.resolve() for p in tmp_path.iterdir())
    assert len(names) == 2


def test_no_temporary_files_remain_and_names_follow_the_layout(tmp_path: Path) -> None:
    b = backend(tmp_path)
    for i in range(5):
        b.write_sync([event(i)])
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".parquet")]
    assert leftovers == []
    assert all(p.name.startswith("events_") for p in tmp_path.rglob("*.parquet"))


def test_pandas_reads_custom_attributes_as_dicts(tmp_path: Path) -> None:
    import pandas as pd

    b = backend(tmp_path)
    b.write_sync([event(0, custom_attributes={"estimated_cost_usd": 0.25}),
                  event(1, custom_attributes={"estimated_cost_usd": 0.5})])
    df = pd.read_parquet(str(tmp_path))
    assert df["custom_attributes"].apply(lambda x: x.get("estimated_cost_usd")).sum() == 0.75
    assert df["text_metrics"].isna().all()


# -- the query layer's column cache -----------------------------------------------------------------
def varied(i: int, **kw: object) -> MetricEvent:
    """Events with every group key, nulls, errors, tokens and (exactly summable) costs."""
    fields: dict[str, object] = dict(
        session_id=f"s{i % 3}", trace_id=f"t{i % 4}", model=[None, "gpt-4o", "(none)", "claude"][i % 4],
        agent=AgentIdentity(agent_name=f"a{i % 2}") if i % 5 else None, operation_name=f"op{i % 3}",
        duration_ms=float(i % 7) + 0.5, error=i % 4 == 0,
        usage=TokenUsage(input_tokens=i, output_tokens=2 * i) if i % 2 else None,
        text_metrics=TextMetrics(input_tokens=1, output_tokens=1),
        cost=CostInfo(total_cost_usd=0.25 * (i % 3)) if i % 3 else None)
    fields.update(kw)
    return event(i, **fields)


def answers(q: ParquetQueryBackend, f: EventFilter | None) -> tuple[object, ...]:
    async def run() -> tuple[object, ...]:
        return (await q.summary(f), await q.aggregates("operation", f), await q.aggregates("model", f),
                await q.aggregates("agent", f), await q.sessions(f), await q.costs("model", f))
    return asyncio.run(run())


FILTERS = [None, EventFilter(model="gpt-4o"), EventFilter(agent_name="a1"), EventFilter(errors_only=True),
           EventFilter(session_id="s1", operation_name="op2"), EventFilter(trace_id="t3"),
           EventFilter(start=T0 + timedelta(seconds=3), end=T0 + timedelta(seconds=40))]


@pytest.mark.parametrize("partition_by", ["date", "session_id"])
def test_cached_answers_equal_uncached_ones_and_follow_added_replaced_removed_files(
        tmp_path: Path, partition_by: str) -> None:
    b = backend(tmp_path, partition_by=partition_by)
    b.write_sync([varied(i) for i in range(30)])  # two days: 23:59:59 + i seconds; three sessions
    config = StorageConfig(output_dir=str(tmp_path), partition_by=partition_by)  # type: ignore[arg-type]
    cached, plain = ParquetQueryBackend(config), ParquetQueryBackend(config, cache_bytes=0)
    for f in FILTERS:
        assert answers(cached, f) == answers(plain, f), f
    assert len(cached.cache) == (2 if partition_by == "date" else 3) and len(plain.cache) == 0
    assert answers(cached, None) == answers(plain, None)  # now from the cache

    b.write_sync([varied(i) for i in range(30, 45)])  # a new file is read
    assert asyncio.run(cached.summary()).total_events == 45
    for f in FILTERS:
        assert answers(cached, f) == answers(plain, f), f

    # a file replaced under the same name (renamed into place, as the writer does) is decoded again
    victim = sorted(tmp_path.rglob("*.parquet"))[0]
    table = pq.read_table(victim)
    pq.write_table(table.slice(0, 1), victim.with_name(".replacement"))
    victim.with_name(".replacement").replace(victim)
    assert asyncio.run(cached.summary()) == asyncio.run(plain.summary())
    victim.unlink()  # a removed file is no longer counted, and leaves the cache
    before = len(cached.cache)
    assert asyncio.run(cached.summary()) == asyncio.run(plain.summary())
    assert len(cached.cache) == before - 1


@pytest.mark.parametrize("partition_by", ["date", "session_id"])
def test_cached_queries_count_a_redelivered_event_once(tmp_path: Path, partition_by: str) -> None:
    b = backend(tmp_path, partition_by=partition_by)
    events = [varied(i) for i in range(19)]  # 23:59:59 on day one, then day two
    b.write_sync(events)
    q = ParquetQueryBackend(StorageConfig(output_dir=str(tmp_path), partition_by=partition_by))  # type: ignore[arg-type]
    files = [str(p) for p in tmp_path.rglob("*.parquet")]
    assert len(files) > 1 and q._suspects(files) == set()  # one batch's files never share an event
    b.write_sync(events[3:9])  # a subset re-delivered: other files, overlapping id ranges
    for _ in range(2):
        s = asyncio.run(q.summary())
        assert s.total_events == 19 and sum(g.events for g in s.by_model) == 19


def test_overlapping_ranges_are_suspect_only_across_batches() -> None:
    ranges = {"a1": IdRange("e1", "e5", "A"), "a2": IdRange("e2", "e6", "A"),  # one batch, interleaved
              "b": IdRange("e7", "e9", "B"), "c": IdRange("e8", "e8", "C"),  # two batches overlapping
              "old1": IdRange("f1", "f3"), "old2": IdRange("f2", "f4"),  # untagged files overlapping
              "lone": IdRange("g1", "g2"), "unknown": IdRange(None, None)}
    assert overlapping(ranges) == {"b", "c", "old1", "old2", "unknown"}


def test_null_and_literal_none_label_are_one_group(tmp_path: Path) -> None:
    backend(tmp_path).write_sync([varied(i) for i in range(8)])
    models = {g.key: g.events for g in asyncio.run(ParquetQueryBackend(StorageConfig(output_dir=str(tmp_path)))
                                                   .summary()).by_model}
    assert models == {"(none)": 4, "gpt-4o": 2, "claude": 2}


def test_column_cache_is_bounded_least_recently_used_out() -> None:
    table = pa.table({"x": pa.array(range(1000), type=pa.int64())})  # 8,000 bytes
    size = table.get_total_buffer_size()
    cache = ColumnCache(max_bytes=2 * size)
    cache.put(("a", 1, 1), table)
    cache.put(("b", 1, 1), table)
    assert cache.get(("a", 1, 1)) is table  # "a" is now the most recently used
    cache.put(("c", 1, 1), table)
    assert cache.get(("b", 1, 1)) is None and cache.get(("a", 1, 1)) is table and cache.bytes == 2 * size
    cache.put(("big", 1, 1), pa.concat_tables([table] * 3).combine_chunks())  # larger than the bound
    assert cache.get(("big", 1, 1)) is None and len(cache) == 2
    cache.retain({("c", 1, 1)})
    assert len(cache) == 1 and cache.bytes == size


def _page_all(query: ParquetQueryBackend, limit: int, *, by_cursor: bool) -> list[str]:
    out: list[str] = []
    cursor: str | None = None
    offset = 0
    while True:
        page = (query._events(None, limit, 0, cursor) if by_cursor else query._events(None, limit, offset, None))
        out += [e.event_id for e in page.events]
        if by_cursor:
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor
        else:
            if not page.events:
                return out
            offset += limit


def test_event_pages_read_only_the_files_that_can_hold_them(tmp_path: Path) -> None:
    # 40 batches whose time ranges overlap their neighbours', ties in start time, one re-delivered subset
    b = backend(tmp_path)
    events = [event(i) for i in range(2000)]
    for i, e in enumerate(events):
        e.start_time_ns = 1_767_225_600_000_000_000 + (i // 2) * 10**9  # pairs tie on start time
        e.end_time_ns = e.start_time_ns + 1_000_000
    for i in range(0, 2000, 50):
        b.write_sync(events[i:i + 60] if i + 60 <= 2000 else events[i:])  # 10 events overlap the next batch
    b.write_sync(events[500:520])  # a different-shaped re-delivery: those files are de-duplicated
    expected = [e.event_id for e in sorted(events, key=lambda e: (e.start_time_ns, e.event_id))]
    query = ParquetQueryBackend(StorageConfig(backend="parquet", output_dir=str(tmp_path)))
    assert _page_all(query, 37, by_cursor=True) == expected
    assert _page_all(query, 53, by_cursor=False) == expected
    snap = query._snap()
    chosen, keys = query._page_files(snap, list(snap.files), None, 101, None)
    assert len(chosen) < len(snap.files) // 4  # the first page did not read the dataset
    assert keys.num_rows >= 101


def test_the_json_extension_type_is_unregistered_at_exit() -> None:
    # left registered, it is destroyed after the interpreter finalised: an intermittent abort at exit
    import subprocess
    import sys

    code = ("import atexit, pyarrow as pa, llamonitor.schema.arrow as a\n"
            "atexit._run_exitfuncs()\n"
            "pa.register_extension_type(a.JSON_TYPE)  # raises if still registered\n"
            "pa.unregister_extension_type(a.JSON_TYPE.extension_name)\n"
            "print('unregistered at exit')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "unregistered at exit" in proc.stdout, proc.stderr


def test_files_read_back_share_the_one_json_type_instance(tmp_path: Path) -> None:
    # a fresh instance per file could be freed on an Arrow pool thread at interpreter exit (abort)
    from llamonitor.schema.arrow import JSON_TYPE

    files = backend(tmp_path).write_sync([event(1), event(2)])
    assert pq.read_schema(files[0]).field("custom_attributes").type is JSON_TYPE
    table = ds.dataset(str(tmp_path), format="parquet").to_table()
    assert table.schema.field("custom_attributes").type is JSON_TYPE


def test_random_ids_do_not_make_every_file_a_suspect_but_a_redelivery_still_is(tmp_path: Path) -> None:
    """Trace-based random ids make every batch's id range span the id space: the ids themselves
    decide which files share an event."""
    import uuid

    b = backend(tmp_path)
    events = [varied(i) for i in range(60)]
    for e in events:
        e.event_id = str(uuid.uuid4())
    for i in range(0, 60, 20):
        b.write_sync(events[i:i + 20])
    q = ParquetQueryBackend(StorageConfig(output_dir=str(tmp_path)))
    snap = q._snap()
    assert len(snap.files) >= 3 and overlapping({f.path: f.facts for f in snap.files})  # ranges all overlap
    assert snap.suspects == frozenset()  # but no two files share an id
    b.write_sync(events[25:31])  # a subset of the second batch, re-delivered in another shape
    snap = q._snap()
    assert len(snap.suspects) >= 2  # the new file and the file(s) of the second batch it repeats
    assert asyncio.run(q.summary()).total_events == 60
    plain = ParquetQueryBackend(StorageConfig(output_dir=str(tmp_path)), cache_bytes=0)
    assert answers(q, None) == answers(plain, None)
