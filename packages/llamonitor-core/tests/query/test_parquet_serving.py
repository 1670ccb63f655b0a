"""The Parquet query layer while files arrive: what a request may reuse, and that it stays exact."""

from __future__ import annotations

import asyncio
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
