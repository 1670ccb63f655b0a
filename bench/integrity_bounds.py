"""Integrity under the memory bounds: SIGKILL loss and an outage under policy ``block``.

Run: ``uv run python bench/integrity_bounds.py`` (``--events N`` for the outage size).

:func:`measure` returns rows ``(scenario, offered, stored, dropped, lost)``:

* ``sigkill``: a child records at 5,000 events/s into a Parquet sink made slow (0.5 s per
  batch, ``max_queue_size=1000``) and is SIGKILLed once its producer blocks; ``offered`` is its
  last printed count (+49, an upper bound),
  ``stored`` the rows on disk, ``lost`` the difference (documented bound: ``max_queue_size``).
* ``postgres_down_block``: PostgreSQL severed by a loopback proxy (the server keeps running),
  producers under the default ``block`` policy; ``stored`` = written + spilled.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "packages" / "llamonitor-core" / "tests"

Row = tuple[str, int, int, int, int]


def sigkill_row(tmp: Path) -> Row:
    from testkits.sigkill import MAX_QUEUE, run_and_kill

    offered, stored, _, _ = run_and_kill(tmp / "sigkill")
    return (f"sigkill (max_queue_size={MAX_QUEUE})", offered, stored, 0, offered - stored)


def outage_row(tmp: Path, events: int) -> Row:
    import llamonitor
    from llamonitor import monitor_llm
    from llamonitor.schema.config import MonitorConfig, StorageConfig
    from testkits.storage import PG_DSN, drop, unique_name
    from testkits.tcp_proxy import TcpProxy

    name = unique_name()
    with TcpProxy(5432).start() as proxy:
        storage = StorageConfig(backend="postgres", table_name="events", schema_name=name, batch_size=100,
                                max_batch_size=500, flush_interval_seconds=0.05,
                                connection_string=f"postgresql://postgres@127.0.0.1:{proxy.port}/test")
        llamonitor.initialize_monitoring_sync(MonitorConfig(
            storage=storage, max_queue_size=1_000, auto_replay=False, spill_dir=str(tmp / "spill")))
        try:
            @monitor_llm("bench_outage")
            def call(i: int) -> int:
                return i

            proxy.set_down()
            for i in range(events):
                call(i)
            llamonitor.flush_sync(300)
            health = llamonitor.health()
        finally:
            llamonitor.shutdown_sync()
            asyncio.run(drop(storage.model_copy(update={"connection_string": PG_DSN})))
    sink = health["sinks"]["postgres"]
    stored = sink["written"] + sink["spilled_events"]
    dropped = health["dropped_overflow"]
    return ("postgres_down_block", events, stored, dropped, events - stored - dropped)


def measure(events: int = 20_000) -> list[Row]:
    """Rows (scenario, offered, stored, dropped, lost) for SIGKILL and outage-under-block."""
    with tempfile.TemporaryDirectory() as tmp:
        return [sigkill_row(Path(tmp)), outage_row(Path(tmp), events)]


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = measure(args.events)
    print(f"{'scenario':<34}{'offered':>10}{'stored':>10}{'dropped':>10}{'lost':>8}")
    for scenario, offered, stored, dropped, lost in rows:
        print(f"{scenario:<34}{offered:>10,}{stored:>10,}{dropped:>10,}{lost:>8,}")
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
