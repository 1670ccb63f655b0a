"""Every adapter package stands on core's adapter contract, with one shape (docs/adapters/writing-an-adapter.md)."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from pathlib import Path

import pytest
from llamonitor.instrumentation.adapter import Adapter

PACKAGES = Path(__file__).resolve().parents[1] / "packages"
#: import name -> the suffix of its instrument_* / uninstrument_* functions
ADAPTERS = {
    p.name.removeprefix("llamonitor-").replace("-", "_"): p.name
    for p in sorted(PACKAGES.iterdir()) if p.name.startswith("llamonitor-") and p.name != "llamonitor-core"
}


def test_every_adapter_package_is_listed() -> None:
    assert len(ADAPTERS) >= 7


@pytest.mark.parametrize("suffix", sorted(ADAPTERS))
def test_adapter_has_the_contract_shape(suffix: str) -> None:
    module = importlib.import_module(f"llamonitor_{suffix}")
    adapter = module._adapter
    assert isinstance(adapter, Adapter)
    # module functions are the one instance's bound methods
    assert getattr(module, f"instrument_{suffix}") == adapter.instrument
    assert getattr(module, f"uninstrument_{suffix}") == adapter.uninstrument
    assert module.is_instrumented == adapter.is_instrumented
    for name in (f"instrument_{suffix}", f"uninstrument_{suffix}", "is_instrumented", "InstrumentOptions"):
        assert name in module.__all__, name
    params = inspect.signature(adapter.instrument).parameters
    assert "options" in params and params["capture_content"].kind is inspect.Parameter.KEYWORD_ONLY
    assert adapter.log.name.startswith("llamonitor.") and adapter.framework


@pytest.mark.parametrize("suffix", sorted(ADAPTERS))
def test_adapter_logs_under_the_llamonitor_tree(suffix: str) -> None:
    """No adapter module makes a logger outside ``llamonitor.*`` or its own warn-once."""
    package = importlib.import_module(f"llamonitor_{suffix}")
    sources = [Path(package.__file__).read_text()]
    for info in pkgutil.iter_modules(package.__path__):
        sources.append((Path(package.__path__[0]) / f"{info.name}.py").read_text())
    text = "\n".join(sources)
    for line in text.splitlines():
        if "logging.getLogger(" in line and "EVENT_LOGGER_NAME" not in line:
            raise AssertionError(f"llamonitor_{suffix} makes its own logger: {line.strip()}")
    assert "warned" not in text.replace("_warned", ""), "hand-written warn-once: use Adapter.warn_once / report"
    assert logging.getLogger("llamonitor").handlers
