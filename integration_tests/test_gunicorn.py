"""gunicorn with ``--preload`` (monitoring initialised in the master, then forked): every request
is one stored event, none twice, with sync workers and with uvicorn's async worker class.

A real gunicorn serves ``prefork_app.py`` on loopback; requests go over HTTP from several
threads so both workers answer; then the master gets SIGTERM (a graceful stop, as a deploy
does) and the Parquet output is counted.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyarrow.dataset as ds
import pytest

HERE = Path(__file__).resolve().parent
REQUESTS = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(tmp_path: Path, worker_class: str, app: str, port: int, **env: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--worker-class", worker_class,
           "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "20", "--chdir", str(HERE), app]
    proc = subprocess.Popen(cmd, cwd=HERE, env={**os.environ, "LLAMONITOR_TEST_OUT": str(tmp_path), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("gunicorn did not start:\n" + (proc.stdout.read() if proc.stdout else ""))


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("gunicorn did not stop within 60 s:\n" + out) from None
    return out


def hammer(port: int) -> set[str]:
    def one(i: int) -> str:
        with httpx.Client(timeout=10) as client:  # a connection per request: spread over the workers
            return client.get(f"http://127.0.0.1:{port}/q{i}").text.rsplit(" ", 1)[-1]

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(one, range(REQUESTS)))


def stored(tmp_path: Path) -> list[str]:
    return ds.dataset(str(tmp_path / "data"), format="parquet").to_table(
        columns=["event_id", "operation_name"]).column("event_id").to_pylist()


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("worker_class", "app"), [("sync", "prefork_app:wsgi"),
                                                   ("uvicorn_worker.UvicornWorker", "prefork_app:asgi")])
def test_every_request_of_every_worker_is_stored_once(worker_class: str, app: str, tmp_path: Path) -> None:
    port = free_port()
    proc = start_gunicorn(tmp_path, worker_class, app, port)
    try:
        pids = hammer(port)
    finally:
        log = stop(proc)
    assert len(pids) == 2, f"both workers should have answered: {pids}\n{log}"
    ids = stored(tmp_path)
    # every answered request (the /ping probes too) is one event; none twice
    assert len(ids) == len(set(ids)), log
    pings = len(ids) - REQUESTS
    assert 1 <= pings <= 300, (len(ids), log)
    assert "ran before initialize_monitoring" not in log


def scrape_total(port: int) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(body):
        if family.name == "llm_operations":
            return sum(s.value for s in family.samples if s.name == "llm_operations_total"
                       and s.labels.get("operation_name") == "answer")
    return 0.0


@pytest.mark.timeout(240)
def test_one_scrape_counts_the_requests_of_every_worker(tmp_path: Path) -> None:
    """The master serves /metrics (it initialised monitoring before forking); the workers publish
    their counts to the shared folder; one scrape shows them all."""
    port, metrics = free_port(), free_port()
    proc = start_gunicorn(tmp_path, "sync", "prefork_app:wsgi", port, LLAMONITOR_TEST_FLUSH="0.1",
                          LLAMONITOR_TEST_PROMETHEUS_PORT=str(metrics))
    try:
        pids = hammer(port)
        answered = REQUESTS + 1  # the start-up probe that first got an answer
        deadline = time.monotonic() + 20
        total = 0.0
        while time.monotonic() < deadline:
            total = scrape_total(metrics)
            if total >= answered:
                break
            time.sleep(0.2)
    finally:
        log = stop(proc)
    assert len(pids) == 2, log
    assert answered <= total <= answered + 300, (total, log)  # probes that failed to connect never ran
    published = sorted(p.name for p in (tmp_path / "prometheus").glob("prometheus_*.json"))
    assert len(published) >= 2, published  # each worker's own file
