"""The Parquet query layer while files arrive: what a request may reuse, and that it stays exact."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import llamonitor.query.parquet as parquet_query
import pytest
from llamonitor.query.parquet import ParquetQueryBackend
from llamonitor.schema.config import StorageConfig
from testkits.storage import make_events, store


def _events(n: int, seed: int, sessions: int) -> list[Any]:
    events = make_events(n, seed=seed, sessions=sessions, days=2)
    for i, e in enumerate(events):  # ids unique across batches, as the writer makes them
        e.event_id = f"{seed}-{i}"
    return events


def _config(tmp_path: Path, **options: Any) -> StorageConfig:
    # exact_percentile_limit 0: the summary comes from the footer totals, its distinct counts from the index
    return StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"),
                         options={"exact_percentile_limit": 0, **options})


def test_a_summary_during_appends_counts_sessions_from_the_index_not_a_group_by(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path)
    asyncio.run(store(cfg, _events(600, seed=3, sessions=6)))
    q = ParquetQueryBackend(cfg)
    before = asyncio.run(q.summary())  # builds the index over the first files
    assert q.index.builds == 1 and len(q._ids) == 0

    # another request lists the file set between the summary's own look and its distinct counts
    totals = q._totals

    def totals_then_a_new_file_is_listed(snap: Any) -> Any:
        found = totals(snap)
        asyncio.run(store(cfg, _events(300, seed=4, sessions=9)))
        q._snap()  # a concurrent request's listing: a newer snapshot is the tracker's latest
        return found

    q._totals = totals_then_a_new_file_is_listed  # type: ignore[method-assign]

    def group_by(*_: Any) -> Any:
        raise AssertionError("the distinct counts fell back to a hash group-by over every file's ids")

    monkeypatch.setattr(parquet_query, "trace_counts", group_by)
    during = q._summary(None)
    # the counts answer for the summary's own snapshot, from the index: no id column was read
    assert (during.total_events, during.sessions, during.traces) == (
        before.total_events, before.sessions, before.traces)
    assert len(q._ids) == 0 and q.index.builds == 1

    q._totals = totals  # type: ignore[method-assign]
    after = asyncio.run(q.summary())
    monkeypatch.undo()  # the scan's answer: a group-by
    exact = asyncio.run(ParquetQueryBackend(cfg, cache_bytes=0).summary())
    assert after.total_events == 900
    assert (after.sessions, after.traces) == (exact.sessions, exact.traces)
    assert len(q._ids) == 0 and q.index.builds == 1


def test_a_listing_is_shared_within_listing_max_age_ms_and_never_after(tmp_path: Path) -> None:
    cfg = _config(tmp_path, listing_max_age_ms=1500)
    asyncio.run(store(cfg, _events(400, seed=5, sessions=4)))
    q = ParquetQueryBackend(cfg)
    first = q.tracker.snapshot()
    assert asyncio.run(q.summary()).total_events == 400  # a file written before the listing: shown
    listings = q.tracker.listings

    asyncio.run(store(cfg, _events(100, seed=6, sessions=4)))
    shared = asyncio.run(q.summary())
    if time.monotonic() - first.started < 1.5:  # (a machine too busy to get here in 1.5 s proves nothing)
        # within the window the listing is shared: the file written after it began is not shown yet
        assert shared.total_events == 400
        assert q.tracker.listings == listings and q.tracker.snapshot() is first

    time.sleep(max(0.0, first.started + 1.5 - time.monotonic()) + 0.01)
    assert asyncio.run(q.summary()).total_events == 500  # after the window: listed again, nothing stale
    assert q.tracker.listings > listings
    assert asyncio.run(q.generation()) > first.version
    assert (asyncio.run(q.sessions(limit=10))[0].events, sum(s.events for s in asyncio.run(q.sessions()))) == (
        asyncio.run(ParquetQueryBackend(cfg, cache_bytes=0).sessions(limit=10))[0].events, 500)


def test_without_listing_max_age_ms_every_request_sees_every_file_written_before_it(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    q = ParquetQueryBackend(cfg)
    total = 0
    for seed in range(7, 10):
        asyncio.run(store(cfg, _events(50, seed=seed, sessions=3)))
        total += 50
        assert asyncio.run(q.summary()).total_events == total
        assert asyncio.run(q.events(limit=500)).events.__len__() == total


@pytest.mark.parametrize("bad", [-1, "100", True, float("nan"), 60_001])
def test_listing_max_age_ms_is_validated(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ValueError, match="listing_max_age_ms"):
        ParquetQueryBackend(_config(tmp_path, listing_max_age_ms=bad))
