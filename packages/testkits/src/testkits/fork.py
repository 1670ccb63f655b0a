"""Scenarios run in a fresh interpreter by test_fork.py / test_signals.py (never inside pytest's process).

``python -m testkits.fork SCENARIO OUTPUT_DIR`` records events under the scenario's process shape and
prints one JSON line: {"offered": N, ...}. The test then counts what is stored in OUTPUT_DIR.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import llamonitor
from llamonitor import MonitorConfig, StorageConfig, monitor_llm


def config(out: Path, **extra: object) -> MonitorConfig:
    storage = StorageConfig(backend="parquet", output_dir=str(out / "data"), batch_size=500,
                            flush_interval_seconds=30.0)  # nothing is written unless drained
    return MonitorConfig(storage=storage, spill_dir=str(out / "spill"), **extra)  # type: ignore[arg-type]


@monitor_llm("work")
def work(i: int) -> int:
    return i


def task(i: int) -> int:
    work(i)
    return os.getpid()


def _both_started(barrier: Any) -> None:
    """Pool initializer: each worker waits for the other, so both take tasks even on a loaded
    machine (otherwise one worker can drain the whole map before the second one starts)."""
    barrier.wait(60)


def _pool(ctx: Any, size: int = 2) -> Any:
    return ctx.Pool(size, initializer=_both_started, initargs=(ctx.Barrier(size),))


def os_fork(out: Path) -> dict[str, object]:
    llamonitor.initialize_monitoring_sync(config(out))
    for i in range(500):  # queued in the parent when it forks: the parent writes them, once
        work(i)
    pid = os.fork()
    if pid == 0:
        for i in range(1000):
            work(i)
        sys.exit(0)  # a normal exit: the child's own writer drains at exit
    _, status = os.waitpid(pid, 0)
    for i in range(300):
        work(i)
    llamonitor.shutdown_sync(60)
    return {"offered": 1800, "child_status": status}


def pool(out: Path, how: str) -> dict[str, object]:
    llamonitor.initialize_monitoring_sync(config(out))
    ctx = multiprocessing.get_context("fork")
    if how == "with":  # Pool.__exit__ terminates the workers (SIGTERM)
        with _pool(ctx) as p:
            pids = set(p.map(task, range(1000), chunksize=10))
    else:  # close + join: workers leave with os._exit after multiprocessing's finalizers
        p = _pool(ctx)
        pids = set(p.map(task, range(1000), chunksize=10))
        p.close()
        p.join()
    llamonitor.shutdown_sync(60)
    return {"offered": 1000, "worker_pids": len(pids)}


def signal_during_exit_drain(out: Path) -> dict[str, object]:
    """A forked child is leaving (its exit hook has begun the drain) when SIGTERM lands, the way
    ``Pool.__exit__`` terminates workers that are already exiting. The signal is raised from inside
    ``shutdown_sync`` at the point where the writer has just been detached from the runtime."""
    from llamonitor import otel_context

    llamonitor.initialize_monitoring_sync(config(out))
    pid = os.fork()
    if pid == 0:
        for i in range(700):
            work(i)
        configure = otel_context.configure

        def signalled(mode: str) -> bool:  # shutdown_sync calls configure("off") as it detaches the writer
            if mode == "off":
                os.kill(os.getpid(), signal.SIGTERM)
            return configure(mode)

        otel_context.configure = signalled  # type: ignore[assignment]
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    llamonitor.shutdown_sync(60)
    return {"offered": 700, "child_status": os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)}


def signal_inside_wake(out: Path, relay_in_parent: bool = False) -> dict[str, object]:
    """SIGTERM lands while the recording thread holds the writer's wake-up lock (the queue just reached
    a batch), the way it lands at any instant in a busy worker. The child counts its finished calls
    in shared memory; it must die of the signal with every finished call stored, not hang.
    ``relay_in_parent``: the parent's signal relay is running when it forks (a child has none)."""
    import threading

    llamonitor.initialize_monitoring_sync(config(out))
    done = multiprocessing.get_context("fork").Value("i", 0, lock=False)
    relay = llamonitor.runtime._Relay
    relay.running = relay_in_parent
    pid = os.fork()
    relay.running = False
    if pid == 0:
        recorder = llamonitor.runtime.STATE.recorder
        assert recorder is not None

        class SignalledEvent(threading.Event):
            def set(self) -> None:
                with self._cond:  # the signal's handler runs while this lock is held
                    os.kill(os.getpid(), signal.SIGTERM)
                    self._flag = True
                    self._cond.notify_all()

        # the same event object (the writer may be waiting on it already), its set() now signalling
        recorder.wake.__class__ = SignalledEvent
        for i in range(700):
            work(i)
            done.value = i + 1
        time.sleep(30)  # the signal ends the process before this returns
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    llamonitor.shutdown_sync(60)
    return {"finished": done.value, "child_signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}


def prometheus_pool(out: Path) -> dict[str, object]:
    """Forked pool workers' counts in the parent's /metrics, with no shared folder configured."""
    import socket

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cfg = config(out)
    cfg.extensions["prometheus"] = {"port": port}
    llamonitor.initialize_monitoring_sync(cfg)
    work(-1)  # one in the parent too
    p = _pool(multiprocessing.get_context("fork"))
    pids = set(p.map(task, range(1000), chunksize=10))
    p.close()
    p.join()
    total = 0.0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        llamonitor.flush_sync(10)
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        total = sum(s.value for f in text_string_to_metric_families(body) for s in f.samples
                    if s.name == "llm_operations_total")
        if total >= 1001:
            break
        time.sleep(0.2)
    llamonitor.shutdown_sync(60)
    return {"offered": 1001, "scraped": total, "worker_pids": len(pids)}


def sigterm(out: Path, initialiser: str) -> dict[str, object]:
    """Record 9,400 events with nothing written yet, then SIGTERM ourselves (the README way or sync)."""
    if initialiser == "async":
        asyncio.run(llamonitor.initialize_monitoring(config(out, max_queue_size=20_000)))
    else:
        llamonitor.initialize_monitoring_sync(config(out, max_queue_size=20_000))
    for i in range(9400):
        work(i)
    print(json.dumps({"offered": 9400}), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)  # the signal ends the process before this returns
    return {"offered": 9400, "survived": True}


def chained(out: Path) -> dict[str, object]:
    """The application has its own SIGTERM handler: ours flushes, then calls it; it exits normally."""
    seen: list[int] = []

    def app_handler(signum: int, frame: object) -> None:
        seen.append(signum)
        work(-1)  # the app's own shutdown still records events
        raise SystemExit(3)

    signal.signal(signal.SIGTERM, app_handler)
    asyncio.run(llamonitor.initialize_monitoring(config(out)))
    for i in range(2000):
        work(i)
    print(json.dumps({"offered": 2001}), flush=True)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    finally:
        assert seen == [signal.SIGTERM]
    return {}


def run(scenario: str, out: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    """Run ``scenario`` in a fresh interpreter; its process and its merged JSON output lines."""
    proc = subprocess.run([sys.executable, "-m", "testkits.fork", scenario, str(out)],
                          capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    merged: dict[str, object] = {}
    for line in lines:
        merged.update(line)
    return proc, merged


def stored_ids(out: Path) -> list[str]:
    """Every event id stored under ``out/data``."""
    import pyarrow.dataset as ds

    data = out / "data"
    if not any(data.rglob("*.parquet")):
        return []
    return ds.dataset(str(data), format="parquet").to_table(columns=["event_id"]).column("event_id").to_pylist()


if __name__ == "__main__":
    scenario, out = sys.argv[1], Path(sys.argv[2])
    if scenario == "os_fork":
        result = os_fork(out)
    elif scenario.startswith("pool_"):
        result = pool(out, scenario.removeprefix("pool_"))
    elif scenario.startswith("sigterm_"):
        result = sigterm(out, scenario.removeprefix("sigterm_"))
    elif scenario == "signal_during_exit_drain":
        result = signal_during_exit_drain(out)
    elif scenario.startswith("signal_inside_wake"):
        result = signal_inside_wake(out, relay_in_parent=scenario.endswith("_relay_in_parent"))
    elif scenario == "prometheus_pool":
        result = prometheus_pool(out)
    elif scenario == "chained":
        result = chained(out)
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    print(json.dumps(result), flush=True)
