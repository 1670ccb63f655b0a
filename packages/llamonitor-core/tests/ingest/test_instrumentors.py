"""Runs ``instrumentor_cases.py`` in a fresh interpreter.

The OpenLLMetry and OpenInference instrumentors patch the OpenAI SDK process-wide and do not undo
all of it on ``uninstrument()``: in the same process, llamonitor-openai's own stream tests then
see the SDK still wrapped. A subprocess keeps them apart.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]


@pytest.mark.timeout(400)
def test_real_instrumentors_feed_serve_in_their_own_process() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(HERE / "instrumentor_cases.py")], cwd=ROOT, capture_output=True, text=True,
                          timeout=380)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout, proc.stdout[-2000:]
