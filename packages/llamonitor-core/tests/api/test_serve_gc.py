"""``llamonitor serve`` tunes the garbage collector of every process that serves: the single server
and, with ``--workers N``, each worker (which uvicorn starts with ``spawn``: a fresh interpreter
that inherits none of the supervisor's settings)."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llamonitor.api.server import GC_THRESHOLDS
from llamonitor.cli.main import main

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def _captured(monkeypatch: pytest.MonkeyPatch, target: str) -> list[Any]:
    """Stop uvicorn where it would start serving; what it would have run is kept."""
    import uvicorn
    import uvicorn.supervisors

    seen: list[Any] = []
    if target == "workers":
        class Supervisor:
            def __init__(self, config: Any, sockets: Any) -> None:
                seen.append(config)
                for sock in sockets:
                    sock.close()

            def run(self) -> None:
                pass

        monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    else:
        def run(self: Any, sockets: Any = None) -> None:
            seen.append((gc.get_threshold(), gc.get_freeze_count()))
            for sock in sockets or ():
                sock.close()

        monkeypatch.setattr(uvicorn.Server, "run", run)
    return seen


def test_each_worker_of_serve_tunes_its_own_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      restore_gc: None) -> None:
    seen = _captured(monkeypatch, "workers")
    assert main(["serve", "--workers", "2", "--port", "0", "--dir", str(tmp_path / "data"),
                 "--otlp-grpc-port", "0"]) == 0
    (config,) = seen
    # What a worker does when it starts: unpickle the factory in a fresh interpreter and call it.
    script = textwrap.dedent("""
        import gc, pickle, sys
        factory = pickle.loads(sys.stdin.buffer.read())
        factory()
        print(*gc.get_threshold(), gc.get_freeze_count() > 0)
    """)
    out = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(config.app), capture_output=True,
                         timeout=90, check=True)
    assert out.stdout.decode().split() == [*map(str, GC_THRESHOLDS), "True"]
    assert gc.get_threshold() != GC_THRESHOLDS  # the supervisor serves nothing: left as it was


def test_a_single_serve_process_tunes_its_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   restore_gc: None) -> None:
    seen = _captured(monkeypatch, "single")
    assert main(["serve", "--port", "0", "--dir", str(tmp_path / "data"), "--otlp-grpc-port", "0"]) == 0
    ((threshold, frozen),) = seen
    assert threshold == GC_THRESHOLDS and frozen > 0


def test_an_embedded_server_leaves_the_applications_collector_alone(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path, restore_gc: None) -> None:
    from llamonitor.api.app import run_api_server
    from llamonitor.schema.config import MonitorConfig, StorageConfig

    seen = _captured(monkeypatch, "single")
    before = gc.get_threshold()
    run_api_server(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(tmp_path))), port=0,
                   ingest=False)
    assert seen == [(before, gc.get_freeze_count())] and gc.get_freeze_count() == 0
