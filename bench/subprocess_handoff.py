"""Would a subprocess writer take less of the application's GIL than the in-process writer thread?

Run: ``uv run python bench/subprocess_handoff.py`` (``--events N``, ``--batch N``, ``--repeat N``).

A subprocess writer still needs the application process to hand every record over: take it
from the queue, turn its Python objects into bytes, and write those to a pipe or shared memory.
That hand-over holds the application's GIL; the rest (ids, columns, Arrow, Parquet) would run in
the other process. This bench measures, with ``bench/writer_stages.py``'s counting-thread meter,
the GIL time per plain event of:

- ``in-process writer``: the real ``MonitoringWriter`` with the Parquet backend, records queued
  then flushed (everything the writer does, in this process);
- ``hand-over, marshal rows``: each record reduced to a tuple of builtins (the spec as an index,
  ids, times) and the batch ``marshal``-ed and sent over a ``multiprocessing`` pipe to a reader
  process (which decodes it, so the pipe never fills);
- ``hand-over, column arrays``: the batch split into one ``array('q')`` per slot (what a
  shared-memory ring would carry), sent the same way.

The hand-over rows are a lower bound for a subprocess writer: they leave out its queue
management, lifecycle, crash recovery and the second process's own CPU, which competes with the
application for the machine's cores (2 here) although not for its GIL.
"""

from __future__ import annotations

import argparse
import marshal
import multiprocessing
import os
import shutil
import sys
import tempfile
from array import array
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from writer_stages import GilMeter, end_to_end, records


def _reader(conn: Any) -> None:
    n = 0
    while True:
        data = conn.recv_bytes()
        if not data:
            break
        decoded = marshal.loads(data)
        n += len(decoded) if isinstance(decoded, list) else len(decoded[2][0])
    conn.send(n)


def _rows(batch: list[tuple[Any, ...]], specs: dict[int, int]) -> bytes:
    out = []
    for r in batch:
        spec = specs.setdefault(id(r[0]), len(specs))
        out.append((spec, r[1], r[2], r[3], r[4], r[6], r[7]))
    return marshal.dumps(out)


def _columns(batch: list[tuple[Any, ...]], specs: dict[int, int]) -> bytes:
    spec_ids = array("q", [specs.setdefault(id(r[0]), len(specs)) for r in batch])
    times = [array("q", [r[i] for r in batch]).tobytes() for i in (6, 7)]  # start, duration: int64
    ids = [[r[i] for r in batch] for i in (1, 2, 3, 4)]  # session, trace, span, parent: 128-bit ids
    return marshal.dumps((spec_ids.tobytes(), times, ids))


def hand_over(recs: list[tuple[Any, ...]], batch: int, encode: Any, meter: GilMeter) -> float:
    """GIL seconds per event that sending ``recs`` to another process holds in this one."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_reader, args=(child,))
    proc.start()
    specs: dict[int, int] = {}
    chunks = [recs[i:i + batch] for i in range(0, len(recs), batch)]

    def send_all() -> None:
        for chunk in chunks:
            parent.send_bytes(encode(chunk, specs))

    held, _ = meter.held(send_all)
    parent.send_bytes(b"")
    received = parent.recv()
    proc.join(30)
    assert received == len(recs), received
    return held / len(recs) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    recs = records(args.events, priced=False)
    meter = GilMeter()
    best: dict[str, float] = {}
    folder = Path(tempfile.mkdtemp(prefix="llamonitor-bench-handoff-"))
    try:
        for _ in range(args.repeat):  # interleaved: every variant once per round
            end_to_end(recs, args.batch, 1, meter, best, folder)
            shutil.rmtree(folder / "e2e-0", ignore_errors=True)
            for name, encode in (("hand-over, marshal rows", _rows), ("hand-over, column arrays", _columns)):
                value = hand_over(recs, args.batch, encode, meter)
                best[name] = min(best.get(name, value), value)
    finally:
        meter.close()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.events:,} plain records, batches of {args.batch:,}, best of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'':<34}{'GIL µs / event':>16}")
    print(f"{'in-process writer (to Parquet)':<34}{best['writer end to end GIL']:>16.2f}")
    for name in ("hand-over, marshal rows", "hand-over, column arrays"):
        print(f"{name:<34}{best[name]:>16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
