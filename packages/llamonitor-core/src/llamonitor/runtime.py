"""Process-wide monitoring state: the active writer, initialise / flush / shutdown.

The decorator reads ``STATE.recorder`` on every call: ``None`` means "not initialised" and
costs one attribute read.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import threading
from typing import Any

from llamonitor.schema.config import MonitorConfig
from llamonitor.transport.recorder import Recorder
from llamonitor.transport.worker import MonitoringWriter

logger = logging.getLogger("llamonitor")


class _State:
    __slots__ = ("lock", "recorder", "uninitialized_calls", "warned_uninitialized", "writer")

    def __init__(self) -> None:
        self.writer: MonitoringWriter | None = None
        self.recorder: Recorder | None = None
        self.lock = threading.RLock()
        self.uninitialized_calls = 0
        self.warned_uninitialized = False


STATE = _State()


def note_uninitialized() -> None:
    """Called by instrumentation when monitoring is off: warn once, count always."""
    STATE.uninitialized_calls += 1
    if not STATE.warned_uninitialized:
        STATE.warned_uninitialized = True
        logger.warning("llamonitor: a monitored function ran before initialize_monitoring(); "
                       "its events are not recorded")


def _build_sinks(config: MonitorConfig) -> list[Any]:
    from llamonitor.backends.registry import create_backend
    from llamonitor.exporters import create_exporters

    return [create_backend(config.storage), *create_exporters(config)]


def initialize_monitoring_sync(config: MonitorConfig | None = None) -> MonitoringWriter:
    """Start monitoring with ``config`` (``MonitorConfig.from_env()`` if omitted).

    Replaces (after draining) any writer already running. Raises a clear error if the
    storage backend cannot be created or initialised; nothing is started then.
    """
    if config is None:
        config = MonitorConfig.from_env()
    if not isinstance(config, MonitorConfig):
        raise TypeError(f"config must be a MonitorConfig; got {type(config).__name__}")
    if config.enabled:
        config.check_before_start()  # before anything starts or the old writer is replaced
    with STATE.lock:
        old = STATE.writer
        if old is not None:
            STATE.recorder = None
            STATE.writer = None
            old.shutdown()
        if not config.enabled:
            return MonitoringWriter(config, [])
        writer = MonitoringWriter(config, _build_sinks(config))
        writer.recorder.keep_io = config.capture_content
        writer.start()
        if config.handle_sigterm:
            _install_sigterm_handler()
        STATE.writer = writer
        STATE.recorder = writer.recorder
        STATE.warned_uninitialized = False
        return writer


async def initialize_monitoring(config: MonitorConfig | None = None) -> MonitoringWriter:
    """Async form of :func:`initialize_monitoring_sync` (sink set-up runs off the event loop)."""
    return await asyncio.to_thread(initialize_monitoring_sync, config)


def get_writer() -> MonitoringWriter | None:
    """The active writer, or ``None`` when monitoring is not initialised."""
    return STATE.writer


def is_initialized() -> bool:
    """Whether events are being recorded."""
    return STATE.recorder is not None


def flush_sync(timeout: float | None = 30.0) -> bool:
    """Write everything recorded so far; ``True`` when done within ``timeout``."""
    writer = STATE.writer
    return True if writer is None else writer.flush(timeout)


async def flush_monitoring(timeout: float | None = 30.0) -> bool:
    """Async :func:`flush_sync`."""
    return await asyncio.to_thread(flush_sync, timeout)


def shutdown_sync(timeout: float | None = None) -> bool:
    """Drain and stop monitoring; safe to call twice. Re-initialising afterwards works."""
    with STATE.lock:
        writer = STATE.writer
        STATE.recorder = None
        STATE.writer = None
    return True if writer is None else writer.shutdown(timeout)


async def shutdown_monitoring(timeout: float | None = None) -> bool:
    """Async :func:`shutdown_sync`."""
    return await asyncio.to_thread(shutdown_sync, timeout)


def health() -> dict[str, Any]:
    """Counters of the active writer (``{"initialized": False}`` when there is none)."""
    writer = STATE.writer
    base: dict[str, Any] = {"initialized": writer is not None,
                            "uninitialized_calls": STATE.uninitialized_calls}
    if writer is not None:
        base.update(writer.health())
    return base


_sigterm_installed = False


def _on_sigterm(signum: int, frame: Any) -> None:
    # Drain, then die of SIGTERM as the process would have without us (exit status included).
    try:
        shutdown_sync()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm_handler() -> None:
    """Drain on SIGTERM, but only where the default handler is in place.

    Python's default SIGTERM action kills the process without running ``atexit``, which
    would lose what is queued. An application (or server) that set its own handler keeps it;
    it should call ``shutdown_sync()`` itself.
    """
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
            _sigterm_installed = True
    except (ValueError, OSError):  # not the main interpreter / platform without SIGTERM
        pass


@atexit.register
def _drain_at_exit() -> None:
    # atexit runs before daemon threads are torn down, so the writer can still drain.
    if STATE.writer is not None:
        try:
            shutdown_sync()
        except Exception:
            logger.exception("llamonitor: shutdown at exit failed")


def _after_fork_in_child() -> None:
    # The writer thread does not exist in a forked child; stop recording into a dead queue.
    STATE.writer = None
    STATE.recorder = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
