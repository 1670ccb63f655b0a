"""Integrity: events offered / stored / dead-lettered / lost in the shapes production apps live in.

Run: ``uv run python bench/integrity.py [--events 2000] [--backends parquet,postgres,mysql,clickhouse]``
(also the ``integrity`` section of ``bench/run_all.py``). Each scenario counts what it offered and
what is in storage afterwards:

- ``poison``: every 50th call carries a hostile value (lone surrogate, NUL, NaN / infinity, an
  over-long name), through the real writer into each backend: all stored (sanitised), 0 lost;
- ``refused``: the server refuses 1 % of the events itself (a CHECK constraint): the rest stored,
  the refused ones dead-lettered, 0 lost (server backends);
- ``os.fork``, ``fork pool``, ``SIGTERM (sync / async init)``: the scenarios of
  ``python -m testkits.fork`` in fresh interpreters;
- ``SIGKILL``: a child recording 5,000 events/s, killed mid-stream (and, from
  ``integrity_bounds.py``, killed once its producer blocks behind a slow sink): lost is what was in
  memory, at most the documented bound (docs/reliability.md, "What can still be lost");
- ``PostgreSQL severed, policy block`` (``integrity_bounds.py``): every event written or spilled.

Lost must be 0 everywhere except SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parent

#: (scenario, offered, stored, dead-lettered, lost, note)
Outcome = tuple[str, int, int, int, int, str]
_HOSTILE = ["abc\ud800def", "nul\x00byte", math.nan, math.inf, "o" * 5000]


def _writer_run(storage: Any, tmp: Path, n: int, hostile_every: int, refuse_every: int) -> dict[str, Any]:
    import llamonitor
    from llamonitor import MonitorConfig, monitor_llm, monitoring_session

    llamonitor.initialize_monitoring_sync(MonitorConfig(storage=storage, spill_dir=str(tmp / "spill"),
                                                        retry_backoff_seconds=0.01, circuit_open_seconds=0.1))
    try:
        plain = monitor_llm("call", custom_attributes={"model": "m"})(lambda: "ok")
        for i in range(n):
            if refuse_every and i % refuse_every == 0:
                monitor_llm("forbidden")(lambda: "ok")()
            elif hostile_every and i % hostile_every == 0:
                value = _HOSTILE[(i // hostile_every) % len(_HOSTILE)]
                if isinstance(value, float):
                    monitor_llm("call", custom_attributes={"ratio": value})(lambda: "ok")()
                else:
                    with monitoring_session(value):
                        monitor_llm(value, custom_attributes={"note": value})(lambda v=value: v)()
            else:
                plain()
        assert llamonitor.flush_sync(120)
        return llamonitor.health()
    finally:
        llamonitor.shutdown_sync(120)


async def _add_check(storage: Any) -> None:
    from llamonitor.backends.registry import create_backend

    backend: Any = create_backend(storage)
    await backend.initialize()
    try:
        sql = {"postgres": f'ALTER TABLE "{storage.schema_name}"."{storage.table_name}" ADD CONSTRAINT no_f '
                           "CHECK (operation_name <> 'forbidden')",
               "mysql": f"ALTER TABLE `test`.`{storage.table_name}` ADD CONSTRAINT no_f "
                        "CHECK (operation_name <> 'forbidden')",
               "clickhouse": f"ALTER TABLE `{storage.schema_name}`.`{storage.table_name}` ADD CONSTRAINT no_f "
                             "CHECK operation_name != 'forbidden'"}[storage.backend]
        if storage.backend == "clickhouse":
            backend.client.command(sql)
        else:
            await backend.fetch(sql, ())
    finally:
        await backend.close()


def storage_scenarios(backends: list[str], n: int, tmp: Path) -> list[Outcome]:
    import storage as kit

    out: list[Outcome] = []
    for backend in backends:
        cases = [("poison", 50, 0)] + ([("refused", 0, 100)] if backend != "parquet" else [])
        for case, hostile_every, refuse_every in cases:
            name = f"integ_{uuid.uuid4().hex[:8]}"
            store = kit.storage_for(backend, tmp, name)
            try:
                if refuse_every:
                    asyncio.run(_add_check(store))
                health = _writer_run(store, tmp / name, n, hostile_every, refuse_every)
                stored = asyncio.run(kit.count(store))
                sink = next(iter(health["sinks"].values()))
                out.append((f"{case} -> {backend}", n, stored, sink["dead_lettered"], sink["lost_events"],
                            f"sanitised values {health['sanitized_values']}"))
            except Exception as exc:  # a server that is not running: say so in the table
                out.append((f"{case} -> {backend}", n, 0, 0, 0, f"n/a: {type(exc).__name__}: {exc}"[:80]))
            finally:
                try:
                    asyncio.run(kit.drop(store))
                except Exception:
                    pass
    return out


def _parquet_ids(data: Path) -> list[str]:
    import pyarrow.dataset as ds

    if not data.exists():
        return []
    return list(ds.dataset(str(data), format="parquet").to_table(columns=["event_id"]).column("event_id").to_pylist())


def process_scenarios(tmp: Path) -> list[Outcome]:
    out: list[Outcome] = []
    for scenario, label in (("os_fork", "os.fork child"), ("pool_with", "fork Pool (terminated)"),
                            ("pool_close", "fork Pool (closed)"), ("sigterm_sync", "SIGTERM, sync init"),
                            ("sigterm_async", "SIGTERM, async init")):
        folder = tmp / scenario
        proc = subprocess.run([sys.executable, "-m", "testkits.fork", scenario, str(folder)], capture_output=True,
                              text=True, timeout=180)
        offered = 0
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                offered = int(json.loads(line).get("offered", offered))
        ids = _parquet_ids(folder / "data")
        duplicates = len(ids) - len(set(ids))
        note = f"exit {proc.returncode}" + (f", {duplicates} duplicates" if duplicates else ", no duplicate")
        out.append((label, offered, len(set(ids)), 0, offered - len(set(ids)), note))
    return out


_SIGKILL_CHILD = """
import sys, time
import llamonitor
from llamonitor import MonitorConfig, StorageConfig, monitor_llm
out, interval, rate, max_queue = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llamonitor.initialize_monitoring_sync(MonitorConfig(
    storage=StorageConfig(output_dir=out, batch_size=1_000_000, max_batch_size=1_000_000,
                          flush_interval_seconds=interval), max_queue_size=max_queue, spill_dir=out + "_spill"))
call = monitor_llm("killed")(lambda i: i)
t0, i = time.monotonic(), 0
while True:
    due = int((time.monotonic() - t0) * rate)
    while i < due:
        call(i)
        i += 1
        if i % 50 == 0:
            print(i, flush=True)
    time.sleep(0.002)
"""


def sigkill_scenario(tmp: Path, seconds: float = 3.0, interval: float = 0.2, rate: int = 5_000,
                     max_queue: int = 50_000) -> Outcome:
    import pyarrow.parquet as pq

    out = tmp / "sigkill"
    proc = subprocess.Popen([sys.executable, "-c", _SIGKILL_CHILD, str(out), str(interval), str(rate), str(max_queue)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    produced = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds + 10:
        line = proc.stdout.readline()
        if not line:
            break
        produced = int(line)
        if produced >= seconds * rate:
            break
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    for line in rest.splitlines():
        produced = int(line)
    produced += 49  # at most 49 calls after the last printed count
    on_disk = sum(pq.ParquetFile(f).metadata.num_rows for f in out.rglob("*.parquet")) if out.exists() else 0
    bound = int(rate * interval)
    return ("SIGKILL mid-stream", produced, on_disk, 0, produced - on_disk,
            f"<= {produced - on_disk} lost of the ~{bound} recorded per {interval} s flush interval "
            f"(hard bound: max_queue_size {max_queue:,}, in-flight batches included)")


def bounds_scenarios(tmp: Path, n: int) -> list[Outcome]:
    """SIGKILL once the producer blocks, and PostgreSQL severed under ``block`` (``integrity_bounds.py``)."""
    import integrity_bounds

    out: list[Outcome] = []
    scenario, offered, stored, _, lost = integrity_bounds.sigkill_row(tmp / "bounds_sigkill")
    out.append((f"SIGKILL, producer blocked, {scenario.removeprefix('sigkill ')}", offered, stored, 0, lost,
                "documented bound: max_queue_size (+49: the count is printed every 50 calls)"))
    try:
        scenario, offered, stored, dropped, lost = integrity_bounds.outage_row(tmp / "bounds_outage", max(n, 1000))
        out.append(("PostgreSQL severed, policy block", offered, stored, 0, lost + dropped,
                    f"written + spilled; {dropped} dropped"))
    except Exception as exc:  # a server that is not running: say so in the table
        out.append(("PostgreSQL severed, policy block", 0, 0, 0, 0, f"n/a: {type(exc).__name__}: {exc}"[:80]))
    return out


def run(backends: list[str], n: int) -> list[Outcome]:
    tmp = Path(tempfile.mkdtemp(prefix="llamonitor-integrity-"))
    try:
        return [*storage_scenarios(backends, n, tmp), *process_scenarios(tmp), sigkill_scenario(tmp),
                *bounds_scenarios(tmp, n)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--backends", default="parquet,postgres,mysql,clickhouse")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    rows = run(args.backends.split(","), args.events)
    print("| scenario | offered | stored | dead-lettered | lost | note |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for scenario, offered, stored, dead, lost, note in rows:
        print(f"| {scenario} | {offered:,} | {stored:,} | {dead:,} | {lost:,} | {note} |")
    bad = [r for r in rows if r[4] and not r[0].startswith("SIGKILL")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
