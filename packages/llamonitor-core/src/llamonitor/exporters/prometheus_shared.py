"""One ``/metrics`` for many processes: each publishes its counts to a folder, the server merges them.

A pre-forking server (gunicorn, Celery, uWSGI) runs the application in several processes, but
only one of them can listen on the metrics port. Every process's Prometheus exporter therefore
writes its state -- the same counters and histograms it would serve -- to
``<shared_dir>/prometheus_<pid>.json`` (atomically, at most every ``PUBLISH_INTERVAL`` seconds
and when it closes), and the process that serves ``/metrics`` adds every other file to its own
state at scrape time: counters and histograms summed per label set, gauges (queue sizes) summed
over the processes still running. A process that ended keeps its counts (counters never go
back); its gauges are dropped.

The folder is ``PrometheusConfig.shared_dir``. When it is not set and the serving process
forks, a temporary folder is made at the first fork and handed to the children through the
configuration they inherit, so forked workers need no setting at all.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from llamonitor.backends.tmpfiles import pid_alive, tmp_path

PUBLISH_INTERVAL = 0.5
_PREFIX = "prometheus_"
#: snapshot fields holding {label tuple: count}
COUNTERS = ("ops", "errors", "chars", "tokens")
#: snapshot fields holding {label tuple: (buckets, count, total)}
HISTOGRAMS = ("duration", "cost")


def _encode(snapshot: dict[str, Any], gauges: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {"gauges": gauges, "collapsed": snapshot["collapsed"]}
    for name in COUNTERS:
        out[name] = [[*key, n] for key, n in snapshot[name].items()]
    for name in HISTOGRAMS:
        out[name] = [[list(key), buckets, count, total] for key, (buckets, count, total) in snapshot[name].items()]
    return out


def _decode(data: dict[str, Any]) -> dict[str, Any]:
    snap: dict[str, Any] = {"collapsed": dict(data.get("collapsed", {})), "gauges": dict(data.get("gauges", {}))}
    for name in COUNTERS:
        snap[name] = {tuple(row[:-1]): row[-1] for row in data.get(name, [])}
    for name in HISTOGRAMS:
        snap[name] = {tuple(key): (list(buckets), count, total) for key, buckets, count, total in data.get(name, [])}
    return snap


class SharedSnapshots:
    """The snapshot files of one folder (see the module docs)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._published_at = 0.0
        self._lock = threading.Lock()  # the writer thread and the exporter's timer both publish

    @property
    def own_file(self) -> Path:
        return self.folder / f"{_PREFIX}{os.getpid()}.json"

    def publish(self, snapshot: dict[str, Any], gauges: dict[str, float], *, force: bool = False) -> bool:
        """Write this process's state (throttled unless ``force``); ``True`` when written."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._published_at < PUBLISH_INTERVAL:
                return False
            self._published_at = now
            final = self.own_file
            tmp = tmp_path(final)
            tmp.write_text(json.dumps(_encode(snapshot, gauges), separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, final)
            return True

    def others(self) -> list[tuple[dict[str, Any], bool]]:
        """``(snapshot, process still running)`` of every other process's file."""
        found: list[tuple[dict[str, Any], bool]] = []
        own = self.own_file.name
        for path in sorted(self.folder.glob(f"{_PREFIX}*.json")):
            if path.name == own:
                continue
            pid = path.stem[len(_PREFIX):]
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # being replaced right now, or torn: next scrape
                continue
            found.append((_decode(data), pid.isdigit() and pid_alive(int(pid))))
        return found


def merge(own: dict[str, Any], others: list[tuple[dict[str, Any], bool]]) -> dict[str, Any]:
    """``own`` plus every other process's counts (a new dict; ``own`` is left as it is)."""
    merged: dict[str, Any] = {name: dict(own[name]) for name in (*COUNTERS, "collapsed")}
    for name in HISTOGRAMS:
        merged[name] = {key: (list(b), c, t) for key, (b, c, t) in own[name].items()}
    gauges: dict[str, float] = dict(own.get("gauges", {}))
    for snap, alive in others:
        for name in (*COUNTERS, "collapsed"):
            target = merged[name]
            for key, n in snap[name].items():
                target[key] = target.get(key, 0) + n
        for name in HISTOGRAMS:
            target = merged[name]
            for key, (buckets, count, total) in snap[name].items():
                mine = target.get(key)
                if mine is None or len(mine[0]) != len(buckets):
                    target[key] = (list(buckets), count, total) if mine is None else mine
                else:
                    target[key] = ([a + b for a, b in zip(mine[0], buckets, strict=True)], mine[1] + count,
                                   mine[2] + total)
        if alive:
            for gauge, value in snap["gauges"].items():
                gauges[gauge] = gauges.get(gauge, 0) + value
    merged["gauges"] = gauges
    return merged


def fork_folder() -> str:
    """A new temporary folder for the processes of one forking server."""
    return tempfile.mkdtemp(prefix="llamonitor-prometheus-")
