"""Parquet footer rollups: the summary path that does not decode files, checked against the exact path.

``exact_percentile_limit=0`` makes the query layer use the rollups whenever it can; a second query
backend with ``rollups: False`` answers the same question by decoding every event, exactly.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from llamonitor.backends.parquet import ParquetBackend
from llamonitor.backends.parquet_rollups import ROLLUP_KEY, ROLLUP_VERSION, SUMS, decode
from llamonitor.query import EventFilter, create_query_backend
from llamonitor.query.parquet import ParquetQueryBackend
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent
from testkits.rollups import same_answers
from testkits.storage import make_events


def config(tmp_path: Path, **options: Any) -> StorageConfig:
    return StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"),
                         options={"exact_percentile_limit": 0, **options})


async def write(cfg: StorageConfig, *batches: list[MetricEvent]) -> None:
    backend = ParquetBackend(cfg)
    await backend.initialize()
    for batch in batches:
        await backend.write_batch(batch)
    await backend.close()


def exact(cfg: StorageConfig) -> StorageConfig:
    return cfg.model_copy(update={"options": {"rollups": False}})


def query(cfg: StorageConfig) -> ParquetQueryBackend:
    backend = create_query_backend(cfg)
    assert isinstance(backend, ParquetQueryBackend)
    return backend


def footers(cfg: StorageConfig) -> dict[Path, dict[bytes, bytes]]:
    return {p: pq.read_metadata(p).metadata for p in sorted(Path(cfg.output_dir).rglob("*.parquet"))}


@pytest.mark.parametrize("partition_by", ["date", "session_id"])
async def test_rollups_answer_like_the_events_within_the_documented_bounds(tmp_path: Path, partition_by: str) -> None:
    cfg = config(tmp_path).model_copy(update={"partition_by": partition_by})
    events = make_events(3000, seed=5, days=6)
    await write(cfg, events[:1000], events[1000:])
    fast, slow = query(cfg), query(exact(cfg))
    assert fast._rollup_rows(None, keys=False, percentiles=True) is not None
    assert slow.rollups is None
    await same_answers(fast, slow, events)


async def test_each_footer_holds_its_files_rollup(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    events = make_events(800, seed=3, days=3)
    await write(cfg, events)
    found = footers(cfg)
    assert len(found) == 3  # one file per day
    for path, meta in found.items():
        rows = decode(meta[ROLLUP_KEY])
        assert rows is not None and json.loads(meta[ROLLUP_KEY])["v"] == ROLLUP_VERSION
        n = pq.read_metadata(path).num_rows
        assert sum(r[4] for r in rows) == n  # events
        assert sum(sum(r[-1][1]) for r in rows) == n  # the histograms count every event once
        assert len({r[0] for r in rows}) == 1 and all(len(r) == 4 + len(SUMS) + 1 for r in rows)


async def test_files_written_without_rollups_are_aggregated_once(tmp_path: Path) -> None:
    events = make_events(1500, seed=8, days=4)
    await write(exact(config(tmp_path)), events)
    cfg = config(tmp_path)
    assert not any(ROLLUP_KEY in meta for meta in footers(cfg).values())
    fast, slow = query(cfg), query(exact(cfg))
    await same_answers(fast, slow, events)
    assert fast.rollups is not None and len(fast.rollups._rows) == 4  # computed once per file, kept


async def test_a_file_with_a_non_finite_duration_is_left_to_the_exact_path(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    events = make_events(600, seed=4, days=2)
    events[10].duration_ms = math.nan
    await write(cfg, events)
    assert sum(ROLLUP_KEY in meta for meta in footers(cfg).values()) == 1  # the other day's file has one
    fast, slow = query(cfg), query(exact(cfg))
    assert fast._rollup_rows(None, keys=False, percentiles=True) is None
    a, b = await fast.summary(), await slow.summary()
    assert (a.total_events, a.latency) == (b.total_events, b.latency)


async def test_a_redelivered_overlapping_batch_is_counted_once(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    events = make_events(1000, seed=6, days=1)
    await write(cfg, events[:600], events[400:])  # 200 events in two files of different batches
    fast = query(cfg)
    assert fast._rollup_rows(None, keys=False, percentiles=True) is None  # the exact path de-duplicates
    summary = await fast.summary()
    assert summary.total_events == 1000
    assert sum(g.events for g in await fast.aggregates("operation")) == 1000


async def test_small_selections_get_exact_percentiles(tmp_path: Path) -> None:
    cfg = config(tmp_path, exact_percentile_limit=10_000)
    events = make_events(900, seed=2, days=2)
    await write(cfg, events)
    fast, slow = query(cfg), query(exact(cfg))
    assert fast._rollup_rows(None, keys=False, percentiles=True) is None
    assert fast._rollup_rows(None, keys=True, percentiles=False) is not None  # costs need no percentiles
    assert (await fast.summary()).latency == (await slow.summary()).latency
    assert await fast.aggregates("model") == await slow.aggregates("model")


def test_unreadable_or_foreign_footers_are_ignored() -> None:
    assert decode(None) is None and decode(b"") is None and decode(b"not json") is None
    assert decode(json.dumps({"v": ROLLUP_VERSION + 1, "rows": []}).encode()) is None
    assert decode(json.dumps({"v": ROLLUP_VERSION, "rows": [[1, "op", "m", "a", 3]]}).encode()) is None
    assert decode(json.dumps({"v": ROLLUP_VERSION, "rows": []}).encode()) == []


def test_bad_rollup_options_are_refused_with_their_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rollups"):
        ParquetBackend(config(tmp_path, rollups="yes"))
    with pytest.raises(ValueError, match="exact_percentile_limit"):
        create_query_backend(config(tmp_path, exact_percentile_limit=-1))


async def test_time_filter_inside_one_file_reads_the_rows_not_the_footer(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    events = make_events(1200, seed=9, days=3)
    await write(cfg, events)
    fast, slow = query(cfg), query(exact(cfg))
    one = sorted(events, key=lambda e: e.start_time_ns)[100:700]
    f = EventFilter(start=one[0].start_time, end=one[-1].start_time)
    want = sum(1 for e in events if one[0].start_time_ns <= e.start_time_ns < one[-1].start_time_ns)
    assert (await fast.summary(f)).total_events == want == (await slow.summary(f)).total_events


async def test_counts_follow_files_added_and_removed_between_summaries(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    first, second = make_events(700, seed=12, days=2, sessions=7), make_events(500, seed=13, days=3, sessions=11)
    await write(cfg, first)
    fast = query(cfg)

    async def check() -> None:
        a, b = await fast.summary(), await query(exact(cfg)).summary()
        assert (a.total_events, a.sessions, a.traces) == (b.total_events, b.sessions, b.traces)

    await check()
    assert fast.index.builds == 1  # the counts come from the session index
    await write(cfg, second)  # new files, new sessions and traces
    await check()
    assert fast.index.builds == 1  # only the new files were added to it
    victim = sorted(Path(cfg.output_dir).rglob("*.parquet"))[0]
    victim.unlink()  # a file gone: its rows must not count any more
    await check()
    assert fast.index.builds == 2
    # with a time range, the files' id columns are read (and kept) instead
    window = EventFilter(start=datetime(2000, 1, 1, tzinfo=timezone.utc))
    a, b = await fast.summary(window), await query(exact(cfg)).summary(window)
    assert (a.total_events, a.sessions, a.traces) == (b.total_events, b.sessions, b.traces)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_writers_rollup_equals_the_query_layers_row_for_row(seed: int) -> None:
    """``writer_rollup_rows`` (three Arrow calls, for the writer) gives ``rollup_rows``' rows.

    Up to order: rows and histogram bins come in another order, and float sums are added in
    another order (equal to 1e-12 relative).
    """
    import dataclasses

    import pyarrow.dataset as ds
    from llamonitor.backends.parquet_rollups import projection, rollup_rows, writer_rollup_rows
    from llamonitor.schema.columnar import events_to_table

    events = make_events(2000, seed=seed, days=4)
    events[5] = dataclasses.replace(events[5], start_time_ns=-1_500_000_000, end_time_ns=-1_000_000_000)
    events[6] = dataclasses.replace(events[6], start_time_ns=-86_400_000_000_000)  # exactly a day before 1970
    events[7] = dataclasses.replace(events[7], duration_ms=0.0)
    table = events_to_table(events)
    expected = rollup_rows(ds.dataset(table).to_table(columns=projection()))
    assert expected is not None and len(expected) > 10
    def normal(rows: list[Any]) -> dict[tuple[Any, ...], tuple[list[Any], dict[int, int]]]:
        return {tuple(r[:4]): (r[4:-1], dict(zip(*r[-1], strict=True))) for r in rows}

    ours, theirs = normal(writer_rollup_rows(table) or []), normal(expected)
    assert ours.keys() == theirs.keys()
    for key, (sums, hist) in theirs.items():
        assert ours[key][1] == hist
        assert ours[key][0] == pytest.approx(sums, rel=1e-12), key
    assert writer_rollup_rows(table.slice(0, 0)) == [] == rollup_rows(ds.dataset(table.slice(0, 0)).to_table(
        columns=projection()))
    bad = events_to_table([dataclasses.replace(events[0], duration_ms=math.inf), *events[1:10]])
    assert writer_rollup_rows(bad) is None is rollup_rows(ds.dataset(bad).to_table(columns=projection()))
