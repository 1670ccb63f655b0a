"""Runs ``otel_nesting_cases.py`` in a fresh interpreter (instrumentors patch the SDK process-wide)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(300)
def test_instrumentor_spans_nest_under_llamonitor_spans_in_their_own_process() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(HERE / "otel_nesting_cases.py")], cwd=HERE.parents[2], capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout, proc.stdout[-2000:]
