"""Version detection: AG2 1.x is refused with a clear message; frameworks are imported lazily."""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys
import types

import llamonitor_autogen
import pytest


def test_ag2_1x_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("ag2")
    fake.__spec__ = importlib.machinery.ModuleSpec("ag2", None)
    fake.__version__ = "1.0.0"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ag2", fake)
    real_has = llamonitor_autogen._has
    monkeypatch.setattr(llamonitor_autogen, "_has", lambda m: False if m == "autogen" else real_has(m))
    with pytest.raises(llamonitor_autogen.UnsupportedAutoGenVersion, match=r"AG2 1\.0\.0.*ag2>=0\.14,<1"):
        llamonitor_autogen.instrument_autogen(agentchat=False)
    assert not llamonitor_autogen.is_instrumented()


def test_import_does_not_import_frameworks() -> None:
    code = ("import sys, llamonitor_autogen, llamonitor_crewai; "
            "print(sorted(m for m in ('autogen', 'autogen_agentchat', 'autogen_core', 'crewai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_instrument_twice_and_uninstrument() -> None:
    llamonitor_autogen.instrument_autogen()
    llamonitor_autogen.instrument_autogen()
    assert llamonitor_autogen.is_instrumented()
    llamonitor_autogen.uninstrument_autogen()
    assert not llamonitor_autogen.is_instrumented()
