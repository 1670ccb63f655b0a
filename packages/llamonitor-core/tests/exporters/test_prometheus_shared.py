"""Merging the counts several processes publish (the file format and the arithmetic)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from llamonitor.exporters.prometheus_shared import SharedSnapshots, merge

KEY = ("chat", "chat", "gpt-4o", "writer")


def snap(ops: int, hist: list[int], queue: int) -> dict[str, object]:
    return {"ops": {KEY: ops}, "errors": {(*KEY, "ValueError"): 1}, "chars": {}, "tokens": {(*KEY, "input"): 10},
            "collapsed": {"model": 2}, "duration": {KEY: (hist, sum(hist), 0.5)}, "cost": {},
            "gauges": {"queue": queue, "buffer": 0}}


def test_counters_and_histograms_add_up_gauges_only_from_running_processes(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid, (ops, queue) in ((dead.pid, (5, 7)), (1, (3, 11))):  # pid 1 always runs
        store = SharedSnapshots(tmp_path)
        store.own_file.with_name(f"prometheus_{pid}.json").write_text("{}")  # replaced below
        data = snap(ops, [ops, 1, 0], queue)
        target = tmp_path / f"prometheus_{pid}.json"
        store.publish(data, data["gauges"], force=True)  # type: ignore[arg-type]
        store.own_file.replace(target)
    (tmp_path / "prometheus_999.json").write_text("{torn")  # a torn file is skipped, not fatal
    merged = merge(snap(2, [2, 0, 0], 1), SharedSnapshots(tmp_path).others())  # type: ignore[arg-type]
    assert merged["ops"][KEY] == 10  # 2 + 5 (ended: counters kept) + 3
    assert merged["errors"][(*KEY, "ValueError")] == 3 and merged["tokens"][(*KEY, "input")] == 30
    assert merged["duration"][KEY] == ([10, 2, 0], 12, 1.5)
    assert merged["collapsed"] == {"model": 6}
    assert merged["gauges"]["queue"] == 1 + 11  # the ended process's queue is gone
