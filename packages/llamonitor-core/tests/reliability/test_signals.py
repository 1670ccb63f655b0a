"""SIGTERM / SIGINT write what is queued, with either initialiser, and chain to the app's handler.

Each scenario runs in a fresh interpreter (``python -m testkits.fork``) whose events all wait in the queue
(flush interval 30 s) when the signal arrives; the Parquet output is then counted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from testkits.fork import run, stored_ids


@pytest.mark.timeout(120)
@pytest.mark.parametrize("initialiser", ["sync", "async"])
def test_sigterm_drains_the_queue_and_the_process_still_dies_of_sigterm(initialiser: str, tmp_path: Path) -> None:
    proc, result = run(f"sigterm_{initialiser}", tmp_path)
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    assert "survived" not in result
    ids = stored_ids(tmp_path)
    assert len(ids) == result["offered"] == 9400 and len(set(ids)) == 9400


@pytest.mark.timeout(120)
def test_an_application_sigterm_handler_is_chained_and_its_own_events_kept(tmp_path: Path) -> None:
    proc, result = run("chained", tmp_path)
    assert proc.returncode == 3, proc.stderr  # the app's handler decided how the process ends
    ids = stored_ids(tmp_path)
    assert len(ids) == result["offered"] == 2001 and len(set(ids)) == 2001


@pytest.mark.timeout(120)
def test_sigint_keeps_keyboard_interrupt_and_drains(tmp_path: Path) -> None:
    code = f"""
import asyncio, os, signal, sys, time
import llamonitor
from testkits import fork as fork_kit
from pathlib import Path
asyncio.run(llamonitor.initialize_monitoring(fork_kit.config(Path({str(tmp_path)!r}))))
for i in range(3000):
    fork_kit.work(i)
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    sys.exit(0)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0 and "KeyboardInterrupt" in proc.stdout, proc.stderr
    assert len(set(stored_ids(tmp_path))) == 3000
