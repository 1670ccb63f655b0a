"""The Parquet session index answers sessions, traces and the distinct counts exactly like the scan.

``cache_bytes=0`` turns the index (and the column cache) off: that backend scans every answer.
The index is checked after its first build, after files are appended (its delta), after the
delta is merged into the base, and after a file is removed (a rebuild).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from llamonitor.query import EventFilter
from llamonitor.query.parquet import ParquetQueryBackend
from llamonitor.schema.config import StorageConfig
from testkits.storage import make_events, store


def answers(q: ParquetQueryBackend) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        sessions = await q.sessions(limit=1000)
        out: dict[str, Any] = {"sessions": [_rounded(s.to_dict()) for s in sessions],
                               "page": [s.session_id for s in await q.sessions(limit=3, offset=2)]}
        for s in sessions:
            out[s.session_id] = [_rounded(t.to_dict()) for t in await q.traces(s.session_id)]
            one = await q.sessions(EventFilter(session_id=s.session_id), limit=1)
            out["one " + s.session_id] = [_rounded(x.to_dict()) for x in one]
        summary = await q.summary()
        out["counts"] = (summary.total_events, summary.sessions, summary.traces)
        out["missing"] = await q.traces("no such session")
        return out
    return asyncio.run(run())


def _summary(q: ParquetQueryBackend) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        found = (await q.summary()).to_dict()
        found["by_day"] = [_rounded(r.to_dict()) for r in await q.costs("day")]
        for name in ("by_operation", "by_model", "by_agent"):
            found[name] = [_rounded(g) for g in found[name]]
        return _rounded(found)
    return asyncio.run(run())


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    # costs are summed in another order (per trace, then per session): equal to the last bits
    return {k: round(v, 9) if isinstance(v, float) else _rounded(v) if isinstance(v, dict) else v
            for k, v in row.items()}


@pytest.mark.parametrize("partition_by", ["date", "session_id"])
def test_the_index_answers_like_the_scan_through_appends_merges_and_removals(tmp_path: Path,
                                                                              partition_by: str) -> None:
    # exact_percentile_limit 0: the summary comes from the footer totals, its distinct counts from the index
    cfg = StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"), partition_by=partition_by,  # type: ignore[arg-type]
                        options={"exact_percentile_limit": 0})
    asyncio.run(store(cfg, make_events(900, seed=41, sessions=9, days=3)))
    fast, slow = ParquetQueryBackend(cfg), ParquetQueryBackend(cfg, cache_bytes=0)
    fast.index.compact_rows = 500
    assert answers(fast) == answers(slow)
    assert fast.index.builds == 1 and fast.totals.rebuilds == 1

    asyncio.run(store(cfg, make_events(300, seed=42, sessions=12, days=2)))  # new sessions and traces
    assert answers(fast) == answers(slow)
    assert (fast.index.builds, fast.index.merges) == (1, 0)  # kept in the delta

    asyncio.run(store(cfg, make_events(400, seed=43, sessions=5, days=1)))
    assert answers(fast) == answers(slow)
    assert (fast.index.builds, fast.index.merges) == (1, 1)  # the delta passed 500 rows: merged
    # the footer totals were extended file by file, and equal totals merged from scratch
    assert fast.totals.rebuilds == 1
    assert _summary(fast) == _summary(ParquetQueryBackend(cfg))

    victim = sorted(Path(cfg.output_dir).rglob("*.parquet"))[0]
    victim.unlink()
    assert answers(fast) == answers(slow)
    assert fast.index.builds == 2


def test_a_dataset_too_large_for_the_index_is_scanned(tmp_path: Path) -> None:
    cfg = StorageConfig(backend="parquet", output_dir=str(tmp_path / "data"))
    asyncio.run(store(cfg, make_events(400, seed=44, sessions=4, days=1)))
    fast, slow = ParquetQueryBackend(cfg), ParquetQueryBackend(cfg, cache_bytes=0)
    fast.index.max_bytes = 100  # smaller than any index
    assert answers(fast) == answers(slow)
    assert fast.index._state is None and fast.index.builds == 1  # built once, found too large, not again
