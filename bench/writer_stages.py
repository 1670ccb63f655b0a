"""What the writer spends per event, stage by stage, for plain and for priced records.

Run: ``uv run python bench/writer_stages.py`` (``--events N``, ``--batch N``).

Records are exactly what the hot path enqueues: *plain* ones (a ``@monitor_llm`` call in capacity
mode: no collector, no capture, no usage) and *priced* ones (an SDK adapter's record carrying
token usage, so the cost collector runs). Each stage is timed over the whole set, in batches of
``--batch``, best of ``--repeat`` runs:

- build: ``EventBuilder.build_batch`` (plain: straight to columns; priced: one ``MetricEvent``
  each, then its row);
- columns -> Arrow: ``columns_to_table`` (the Parquet backend's conversion);
- rollup: the footer rollup of the file (``file_rollup``);
- Parquet write: ``pq.write_table`` (zstd) of that table;
- compact rows: what the SQL backends insert (``EventBatch.compact_rows``).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path
from typing import Any


def records(n: int, priced: bool) -> list[tuple[Any, ...]]:
    from llamonitor import ids
    from llamonitor.schema.events import TokenUsage
    from llamonitor.transport.records import OperationSpec

    spec = OperationSpec("chat", custom_attributes={"team": "search"}, model="gpt-4o-mini", provider="openai")
    now = time.time_ns()
    out = []
    for i in range(n):
        extra = {"usage": TokenUsage(input_tokens=120 + i % 50, output_tokens=30)} if priced else None
        out.append((spec, None, ids.next_trace(), ids.next_span(), None, None, now + i * 1_000, 2_000_000,
                    None, None, None, None, extra))
    return out


def stages(recs: list[tuple[Any, ...]], batch: int, repeat: int) -> dict[str, float]:
    import pyarrow.parquet as pq
    from llamonitor.backends.parquet_rollups import file_rollup
    from llamonitor.schema.arrow import warm_up
    from llamonitor.schema.columnar import columns_to_table
    from llamonitor.schema.config import MonitorConfig, StorageConfig
    from llamonitor.transport.enrich import EventBuilder

    warm_up()
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="unused"))
    chunks = [recs[i:i + batch] for i in range(0, len(recs), batch)]
    best: dict[str, float] = {}
    folder = Path(tempfile.mkdtemp(prefix="llamonitor-bench-stages-"))

    def timed(name: str, fn: Any, items: list[Any]) -> list[Any]:
        gc.collect()
        t0 = time.perf_counter()
        out = [fn(item) for item in items]
        per_event = (time.perf_counter() - t0) / len(recs) * 1e6
        best[name] = min(best.get(name, per_event), per_event)
        return out

    for _ in range(repeat):
        builder = EventBuilder(config)
        batches = timed("build", builder.build_batch, chunks)
        tables = timed("columns -> Arrow", lambda b: columns_to_table(b.columns, len(b)), batches)
        timed("rollup", file_rollup, tables)
        targets = [(t, folder / f"{i}.parquet") for i, t in enumerate(tables)]
        timed("Parquet write", lambda item: pq.write_table(item[0], item[1], compression="zstd"), targets)
        timed("compact rows", lambda b: b.compact_rows(), batches)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    results = {kind: stages(records(args.events, kind == "priced"), args.batch, args.repeat)
               for kind in ("plain", "priced")}
    names = list(results["plain"])
    print(f"µs per event, {args.events:,} records in batches of {args.batch:,} (best of {args.repeat})")
    print(f"{'stage':<18}{'plain':>10}{'priced':>10}")
    for name in names:
        print(f"{name:<18}{results['plain'][name]:>10.2f}{results['priced'][name]:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
