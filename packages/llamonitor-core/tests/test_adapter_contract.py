"""The adapter contract (``llamonitor.instrumentation.adapter``): one shape for every adapter package."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from llamonitor.instrumentation.adapter import Adapter, InstrumentOptions, UnsupportedVersion, version_tuple


class _Toy(Adapter):
    name = "toy"
    framework = "toy"
    module = "json"

    def __init__(self) -> None:
        super().__init__()
        self.installs = 0
        self.uninstalls = 0

    def _install(self) -> None:
        self.installs += 1

    def _uninstall(self) -> None:
        self.uninstalls += 1


def test_instrument_is_idempotent_and_updates_options() -> None:
    toy = _Toy()
    assert toy.instrument() is True
    assert toy.instrument(capture_content=True) is False
    assert toy.installs == 1 and toy.options == InstrumentOptions(capture_content=True)
    assert toy.is_instrumented()
    toy.uninstrument()
    toy.uninstrument()
    assert toy.uninstalls == 1 and not toy.is_instrumented()
    assert toy.instrument(InstrumentOptions(capture_content=False)) is True
    assert toy.installs == 2 and toy.capture() is False


def test_missing_framework_names_what_to_install() -> None:
    class Missing(_Toy):
        name = "missing"
        module = "no_such_framework_xyz"
        install_hint = "pip install 'llamonitor-missing[missing]'"

    adapter = Missing()
    with pytest.raises(ImportError, match=r"pip install 'llamonitor-missing\[missing\]'"):
        adapter.instrument()
    assert adapter.installs == 0 and not adapter.is_instrumented()


def test_version_outside_the_tested_range_is_refused() -> None:
    import pyarrow

    class Old(_Toy):
        name = "old"
        distribution = "pyarrow"
        supported = ((0, 1), (0, 2))

    with pytest.raises(UnsupportedVersion, match=rf"pyarrow >= 0\.1, < 0\.2; {pyarrow.__version__} is installed"):
        Old().instrument()

    class Current(_Toy):
        name = "current"
        distribution = "pyarrow"
        supported = (version_tuple(pyarrow.__version__), (10_000, 0))

    assert Current().instrument() is True


def test_version_tuple() -> None:
    assert version_tuple("0.24.1rc2") == (0, 24)
    assert version_tuple("1.15") == (1, 15)
    assert version_tuple("2") == (2, 0)
    assert version_tuple("1.2.3", 3) == (1, 2, 3)
    assert version_tuple("0.14b1") == (0, 14)


def test_failures_are_logged_once_on_the_adapter_logger(caplog: pytest.LogCaptureFixture) -> None:
    toy = _Toy()
    assert toy.log.name == "llamonitor.toy"
    with caplog.at_level(logging.WARNING, logger="llamonitor.toy"):
        for _ in range(3):
            try:
                raise ValueError("bad event")
            except ValueError as exc:
                toy.report(exc)
        toy.warn_once("other", "something else failed")
    records = [r for r in caplog.records if r.name == "llamonitor.toy"]
    assert len(records) == 2
    assert "bad event" in records[0].getMessage() and records[0].exc_info is not None
    assert "something else failed" in records[1].getMessage()


def test_library_logger_has_a_null_handler() -> None:
    import llamonitor  # noqa: F401

    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("llamonitor").handlers)


def test_capture_follows_the_running_config(tmp_path: Any, make_config: Any) -> None:
    import llamonitor

    llamonitor.initialize_monitoring_sync(make_config(tmp_path, capture_content=True))
    toy = _Toy()
    toy.instrument()
    assert toy.capture() is True
    toy.instrument(capture_content=False)
    assert toy.capture() is False


def test_capture_is_off_without_monitoring() -> None:
    toy = _Toy()
    toy.instrument()
    assert toy.capture() is False
    toy.instrument(capture_content=True)
    assert toy.capture() is True
