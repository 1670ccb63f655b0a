"""The benchmark suite runs end to end in its CI size and prints its one table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.timeout(300)
def test_run_all_smoke_prints_the_table_and_exits_0() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--size", "smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("| section") and "reference (same run)" in line for line in lines), proc.stdout
    rows = [line for line in lines if line.startswith("| ") and not line.startswith(("| section", "| ---"))]
    sections = {row.split("|")[1].strip() for row in rows}
    assert {"decorator", "sdk patch", "storage", "memory", "api", "integrity"} <= sections, proc.stdout
    integrity = [row for row in rows if row.split("|")[1].strip() == "integrity"]
    assert len(integrity) >= 12, proc.stdout
    for row in integrity:  # "N offered / N stored / N dead-lettered / N lost"
        lost = int(row.split("|")[3].split("/")[3].split()[0].replace(",", ""))
        assert lost == 0 or "SIGKILL" in row, row
    for backend in ("parquet", "postgres", "mysql", "clickhouse"):
        assert any(f"decorator -> {backend}" in row and "raw driver" in row for row in rows), proc.stdout
    assert not any("| n/a" in row or "failed" in row.split("|")[2] for row in rows), proc.stdout
