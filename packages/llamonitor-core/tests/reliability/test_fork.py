"""Forked processes keep every event: ``os.fork``, ``multiprocessing`` fork pools (and, in
integration_tests/, gunicorn and Celery prefork workers).

Each scenario runs in a fresh interpreter (``python -m testkits.fork``); the Parquet output is then counted:
every offered event stored exactly once (events queued in the parent when it forks are written by
the parent only).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testkits.fork import run, stored_ids


@pytest.mark.timeout(180)
def test_an_os_fork_child_records_into_its_own_writer_and_nothing_twice(tmp_path: Path) -> None:
    proc, result = run("os_fork", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["child_status"] == 0
    ids = stored_ids(tmp_path)
    assert len(ids) == result["offered"] == 1800 and len(set(ids)) == 1800
    assert "ran before initialize_monitoring" not in proc.stderr


@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", ["with", "close"])
def test_multiprocessing_fork_pool_workers_keep_every_event(how: str, tmp_path: Path) -> None:
    proc, result = run(f"pool_{how}", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["worker_pids"] == 2
    ids = stored_ids(tmp_path)
    assert len(ids) == 1000 and len(set(ids)) == 1000, proc.stderr[-2000:]


@pytest.mark.timeout(180)
def test_sigterm_while_the_exit_hook_drains_waits_for_the_drain(tmp_path: Path) -> None:
    """``Pool.__exit__`` sends SIGTERM to workers that may already be leaving: the signal handler must
    wait for the drain the exit hook began, even if it lands just as the writer is detached."""
    proc, result = run("signal_during_exit_drain", tmp_path)
    assert proc.returncode == 0, proc.stderr
    # the child either finished its exit (the drain done, the signal still waiting) or died of the
    # signal after the drain; either way nothing it recorded is lost
    assert result["child_status"] in (0, 15), result
    ids = stored_ids(tmp_path)
    assert len(ids) == 700 and len(set(ids)) == 700, proc.stderr[-2000:]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("scenario", ["signal_inside_wake", "signal_inside_wake_relay_in_parent"])
def test_sigterm_while_recording_holds_a_writer_lock_neither_hangs_nor_loses(scenario: str, tmp_path: Path) -> None:
    """A signal handler that drained on the spot would wait for a lock its own thread holds: the
    handler defers until the recording thread has left llamonitor's code, then drains and dies
    (also in a child forked while the parent's relay thread ran: the child starts its own)."""
    proc, result = run(scenario, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["child_signal"] == 15, result
    finished = result["finished"]
    assert isinstance(finished, int) and finished >= 500  # the signal came at the first batch's wake-up
    ids = stored_ids(tmp_path)
    # a call that recorded its event but was stopped before counting itself is stored too
    assert finished <= len(ids) <= finished + 1 and len(set(ids)) == len(ids), (finished, len(ids))


@pytest.mark.timeout(180)
def test_forked_workers_counts_reach_the_parents_metrics_without_configuration(tmp_path: Path) -> None:
    """The parent serves /metrics; its pool workers cannot bind the port, so they publish their counts
    to a folder made at the fork, and one scrape of the parent shows every process's events."""
    proc, result = run("prometheus_pool", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["worker_pids"] >= 1  # the 1,000 tasks all ran in forked workers
    assert result["scraped"] == result["offered"] == 1001, proc.stderr[-2000:]
