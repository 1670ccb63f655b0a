"""Celery prefork workers (billiard pool, forked after the app initialised monitoring): every task
is one stored event, none twice, through a warm shutdown.

A real ``celery worker --pool=prefork --concurrency=2`` on the machine's Redis broker runs
``celery_app.py``; the test sends tasks, waits for their results (which name the pool process),
stops the worker with SIGTERM (Celery's warm shutdown) and counts the Parquet output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.dataset as ds
import pytest

HERE = Path(__file__).resolve().parent
TASKS = 200


@pytest.mark.timeout(240)
def test_every_task_of_every_pool_process_is_stored_once(tmp_path: Path) -> None:
    queue = f"llamonitor-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "LLAMONITOR_TEST_OUT": str(tmp_path), "LLAMONITOR_TEST_QUEUE": queue,
           "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=prefork",
                               "--concurrency=2", "--loglevel=INFO", "-Q", queue, "--without-gossip",
                               "--without-mingle", "--without-heartbeat", "-n", f"{queue}@localhost"],
                              cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        os.environ.update(LLAMONITOR_TEST_OUT=str(tmp_path / "client"), LLAMONITOR_TEST_QUEUE=queue)
        sys.path.insert(0, str(HERE))
        import celery_app

        results = [celery_app.summarise_task.delay(f"text number {i}") for i in range(TASKS)]
        pids = {r.get(timeout=60) for r in results}
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: finish tasks, stop the pool
        try:
            log, _ = worker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            log, _ = worker.communicate()
    assert len(pids) == 2, f"both pool processes should have run tasks: {pids}\n{log[-3000:]}"
    deadline = time.monotonic() + 10
    ids: list[str] = []
    while time.monotonic() < deadline:
        data = tmp_path / "data"
        ids = ds.dataset(str(data), format="parquet").to_table(columns=["event_id"]).column(
            "event_id").to_pylist() if data.exists() else []
        if len(ids) >= TASKS:
            break
        time.sleep(0.2)
    assert len(ids) == TASKS and len(set(ids)) == TASKS, (len(ids), log[-3000:])
    assert "ran before initialize_monitoring" not in log
