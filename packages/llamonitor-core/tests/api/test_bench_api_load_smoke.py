"""``bench/api_load.py --quick`` runs end to end: a server process, mixed REST load, live clients."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.timeout(180)
def test_api_load_quick_answers_everything_and_feeds_every_live_client() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "api_load.py"), "--quick", "--backends", "parquet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    answered = re.search(r"offered ([\d,]+) requests .* answered ([\d,]+) .* errors 0, unanswered 0", proc.stdout)
    assert answered and answered.group(1) == answered.group(2), proc.stdout
    live = re.search(r"([\d,]+) events written .* received ([\d,]+)\.\.([\d,]+) each, 0 disconnected", proc.stdout)
    assert live and live.group(1) == live.group(2) == live.group(3), proc.stdout  # each event, once, to all
