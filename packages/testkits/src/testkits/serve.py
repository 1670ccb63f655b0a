"""Start a real ``llamonitor serve`` (uvicorn, 127.0.0.1, free port) and read what it stored."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llamonitor.cli.analyze import load_events
from llamonitor.schema.events import MetricEvent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(root: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``llamonitor serve --dir root/data`` until the block ends (drained by SIGTERM); yields its base URL."""
    port = free_port()
    log_path = root / f"serve-{port}.log"
    environ = {**os.environ, "LLMOPS_FLUSH_INTERVAL_SECONDS": "0.05", **(env or {})}
    environ.pop("LLAMONITOR_API_TOKEN", None)
    args = [sys.executable, "-m", "llamonitor", "serve", "--dir", str(root / "data"), "--port", str(port), *extra]
    if "--otlp-grpc-port" not in extra:
        args += ["--otlp-grpc-port", "0"]
    with log_path.open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environ)
        base = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(base + "api/health", timeout=2):
                        break
                except OSError as exc:
                    if getattr(exc, "code", None) == 401:
                        break
                    assert proc.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "llamonitor serve did not come up"
                    time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            # uvicorn re-raises the SIGTERM it handled once shut down cleanly
            assert proc.wait(timeout=60) in (0, -15), log_path.read_text()


def wait_events(data: Path, count: int, timeout: float = 20.0) -> list[MetricEvent]:
    """The events stored under ``data`` once there are at least ``count`` (or what is there at the timeout)."""
    deadline = time.monotonic() + timeout
    events: list[MetricEvent] = []
    while time.monotonic() < deadline:
        if data.exists():
            try:
                events = load_events(data)
            except Exception:
                events = []
            if len(events) >= count:
                return events
        time.sleep(0.1)
    return events
