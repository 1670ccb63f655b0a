"""``python -m llamonitor`` is the ``llamonitor`` command (for environments without the script on PATH)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "llamonitor", "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for command in ("demo", "report", "analyze", "serve", "replay", "export"):
        assert command in proc.stdout


def test_python_dash_m_passes_the_exit_status(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "llamonitor", "report", "--dir", str(tmp_path / "missing")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and proc.stderr.strip()
