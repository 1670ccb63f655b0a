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
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from llamonitor import otel_context
from llamonitor.schema.config import MonitorConfig
from llamonitor.transport.recorder import Recorder
from llamonitor.transport.worker import MonitoringWriter

logger = logging.getLogger("llamonitor")


class _State:
    __slots__ = ("closing", "lock", "recorder", "uninitialized_calls", "warned_uninitialized", "writer")

    def __init__(self) -> None:
        self.writer: MonitoringWriter | None = None
        #: a writer being shut down (its queue still draining), so a signal can wait for it
        self.closing: MonitoringWriter | None = None
        self.recorder: Recorder | None = None
        self.lock = threading.RLock()
        self.uninitialized_calls = 0
        self.warned_uninitialized = False


STATE = _State()

#: callbacks told of each writer :func:`initialize_monitoring_sync` starts (weakly held when bound methods)
_START_HOOKS: list[Callable[[], Callable[[MonitoringWriter], Any] | None]] = []


def on_writer_start(callback: Callable[[MonitoringWriter], Any]) -> None:
    """Call ``callback(writer)`` whenever monitoring starts a writer (a live feed following the
    active writer). A bound method is held weakly: it goes away with its object."""
    ref: Callable[[], Callable[[MonitoringWriter], Any] | None]
    if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
        ref = weakref.WeakMethod(callback)
    else:
        ref = lambda: callback  # noqa: E731
    _START_HOOKS.append(ref)


def _tell_start_hooks(writer: MonitoringWriter) -> None:
    for ref in list(_START_HOOKS):
        callback = ref()
        if callback is None:
            _START_HOOKS.remove(ref)
            continue
        try:
            callback(writer)
        except Exception:  # a listener's failure never stops monitoring from starting
            logger.warning("llamonitor: a writer start hook failed", exc_info=True)


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
            otel_context.configure("off")
            return MonitoringWriter(config, [])
        writer = MonitoringWriter(config, _build_sinks(config))
        writer.recorder.keep_io = config.capture_content
        writer.start()
        otel_context.configure(config.otel_context)
        if config.handle_sigterm:
            install_signal_handlers()
        STATE.writer = writer
        STATE.recorder = writer.recorder
        STATE.warned_uninitialized = False
        if _START_HOOKS:
            _tell_start_hooks(writer)
        return writer


async def initialize_monitoring(config: MonitorConfig | None = None) -> MonitoringWriter:
    """Async form of :func:`initialize_monitoring_sync` (sink set-up runs off the event loop).

    The signal handlers are installed from the awaiting thread (signals can only be handled on
    the main thread, and the set-up runs on a worker thread).
    """
    writer = await asyncio.to_thread(initialize_monitoring_sync, config)
    if writer.config.enabled and writer.config.handle_sigterm:
        install_signal_handlers()
    return writer


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
        if writer is not None:
            # Named as closing before it is detached: a signal landing between any two of these
            # lines (Pool.__exit__ terminates workers already leaving) must find the writer in one
            # of the two places, and wait for its drain rather than end the process under it.
            STATE.closing = writer
        STATE.recorder = None
        STATE.writer = None
        if writer is not None:
            otel_context.configure("off")
    if writer is None:
        return True
    try:
        return writer.shutdown(timeout)
    finally:
        if STATE.closing is writer:
            STATE.closing = None


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


#: signal -> the handler that was in place before ours (``SIG_DFL``, the app's, ``default_int_handler``)
_previous_handlers: dict[int, Any] = {}


def _handled_signals() -> tuple[int, ...]:
    return tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT") if hasattr(signal, name))


#: source files whose code takes the writer's and recorder's locks on the application's thread
_LOCKING_FILES = (os.path.dirname(os.path.abspath(__file__)) + os.sep + "transport" + os.sep,
                  os.path.abspath(__file__))


def _inside_llamonitor(frame: Any) -> bool:
    """Whether the interrupted thread is running llamonitor's own recording / flush / shutdown code.

    Such code may hold a lock (the wake-up event's, the byte counters', the writer's) that the
    drain needs: a handler draining on the spot would wait for its own thread forever.
    """
    while frame is not None:
        if frame.f_code.co_filename.startswith(_LOCKING_FILES):
            return True
        frame = frame.f_back
    return False


class _Relay:
    """Sends a deferred signal again, a few milliseconds later, from a thread of its own.

    Started only when a signal had to wait for the application's thread to leave llamonitor's
    code; it ends once no signal is waiting. Its own mask blocks the signals, so the kernel keeps
    delivering them to a thread that can run the handler.
    """

    deferred = 0  # the signal waiting to be sent again (0: none)
    running = False
    lock = threading.Lock()  # only ever taken by relay threads, never by the handler

    @classmethod
    def defer(cls, signum: int) -> bool:
        cls.deferred = signum
        if cls.running:
            return True
        cls.running = True
        try:
            import _thread

            _thread.start_new_thread(cls._run, ())  # no threading locks: the handler may hold none
        except RuntimeError:  # interpreter shutting down: the drain under way finishes by itself
            cls.running = False
            return False
        return True

    @classmethod
    def _run(cls) -> None:
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, _handled_signals())
        except (AttributeError, OSError, ValueError):  # pragma: no cover - no pthread_sigmask
            pass
        delay = 0.002
        while True:
            time.sleep(delay)
            with cls.lock:
                signum, cls.deferred = cls.deferred, 0
                if not signum:
                    cls.running = False
                    if not cls.deferred:  # a handler deferring right now saw running=True
                        return
                    cls.running = True
                    continue
            delay = min(delay * 2, 0.05)
            os.kill(os.getpid(), signum)


def _on_signal(signum: int, frame: Any) -> None:
    """Write what is queued, then do what the signal did before llamonitor was there.

    Python runs this on the main thread between two bytecodes, which may be inside llamonitor's
    own code holding one of its locks; then it returns at once and the signal is sent again
    shortly (:class:`_Relay`), until the thread has left that code.
    """
    if _inside_llamonitor(frame) and _Relay.defer(signum):
        return
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        # The application's handler (or Python's KeyboardInterrupt) decides whether the process
        # ends; events it records meanwhile are still taken, and the exit hook drains them.
        try:
            flush_sync(_flush_timeout())
        except Exception:
            logger.exception("llamonitor: flush on signal %d failed", signum)
        previous(signum, frame)
        return
    # SIG_DFL: drain, then die of the signal as the process would have (exit status included).
    try:
        closing = STATE.closing  # a shutdown on another thread still draining: finish it here
        shutdown_sync()
        if closing is not None:
            closing.shutdown()  # safe to repeat: drains, and spills what is left if it times out
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _flush_timeout() -> float:
    writer = STATE.writer
    return writer.config.shutdown_timeout_seconds if writer is not None else 0.0


def install_signal_handlers() -> bool:
    """Drain on SIGTERM / SIGINT, chaining to whatever handled them before; ``True`` if installed.

    Python's default SIGTERM action kills the process without running ``atexit``, which would lose
    what is queued. Our handler writes the queue first, then calls the handler that was in place
    (an application's own, or Python's ``KeyboardInterrupt`` for SIGINT), or -- for the default
    action -- shuts monitoring down and lets the signal end the process as before. A signal the
    application ignores (``SIG_IGN``) stays ignored. Must run on the main thread (Python's rule);
    ``initialize_monitoring`` calls it from the thread that awaited it.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    installed = False
    for signum in _handled_signals():
        try:
            current = signal.getsignal(signum)
            if current is _on_signal:
                installed = True
                continue
            if current is None or current is signal.SIG_IGN:
                continue  # set outside Python, or ignored on purpose: not ours to change
            _previous_handlers[signum] = current
            signal.signal(signum, _on_signal)
            installed = True
        except (ValueError, OSError):  # not the main interpreter / platform without it
            continue
    return installed


@atexit.register
def _drain_at_exit() -> None:
    # atexit runs before daemon threads are torn down, so the writer can still drain.
    if STATE.writer is not None:
        try:
            shutdown_sync()
        except Exception:
            logger.exception("llamonitor: shutdown at exit failed")


#: writers a forked child inherited from its parent: kept referenced and never closed (their
#: connections and files are the parent's), and their queued events are the parent's to write
_inherited: list[MonitoringWriter] = []


def _before_fork() -> None:
    STATE.lock.acquire()  # no fork while a writer is being replaced


def _after_fork_in_parent() -> None:
    STATE.lock.release()


def _after_fork_in_child() -> None:
    """A forked child (gunicorn / Celery / uWSGI worker, ``multiprocessing``) records into its own writer.

    The parent's writer thread does not exist here. Its queue is a copy of events the parent
    writes itself, so it is dropped, and a new writer with the same configuration starts: its own
    queue, thread, files and connections. It drains at exit: ``atexit``, and the exit finalizers
    of ``multiprocessing`` and ``billiard`` (Celery), whose workers leave with ``os._exit``.
    """
    try:
        # a relay thread of the parent does not exist here (and its lock may have been held)
        _Relay.deferred, _Relay.running, _Relay.lock = 0, False, threading.Lock()
        parent = STATE.writer
        STATE.writer = None
        STATE.recorder = None
        if parent is None or not parent.config.enabled:
            return
        _inherited.append(parent)
        try:
            writer = MonitoringWriter(parent.config, _build_sinks(parent.config))
            writer.recorder.keep_io = parent.config.capture_content
            writer.start()
        except Exception:
            logger.exception("llamonitor: could not start the writer of forked process %d; its events are "
                             "not recorded", os.getpid())
            return
        STATE.writer = writer
        STATE.recorder = writer.recorder
        _register_exit_finalizers()
        _follow_celery_pool_exit()
        if parent.config.handle_sigterm:
            _follow_gunicorn_signals()
    finally:
        STATE.lock.release()


def _drain_celery_process(**_kwargs: Any) -> None:
    _drain_at_exit()


def _follow_celery_pool_exit() -> None:
    """Drain when a Celery prefork pool process ends.

    billiard's pool processes leave with ``os._exit`` from their own exit path, before any
    finalizer or ``atexit`` hook; Celery's ``worker_process_shutdown`` signal, sent in the child
    just before, is the one place left.
    """
    signals = sys.modules.get("celery.signals")
    if signals is not None:
        try:
            signals.worker_process_shutdown.connect(_drain_celery_process, weak=False,
                                                    dispatch_uid="llamonitor-drain")
        except Exception:  # pragma: no cover - an incompatible version
            logger.warning("llamonitor: could not follow Celery's worker_process_shutdown; events of "
                           "pool processes may be lost at shutdown", exc_info=True)


def _follow_gunicorn_signals() -> None:
    """Keep draining on SIGTERM in gunicorn workers, which reset every signal after the fork.

    A gunicorn worker sets its own handlers in ``init_signals`` (uvicorn's worker class even
    resets SIGTERM to the default action, and re-raises it after its graceful shutdown, ending
    the process without ``atexit``). Our handler is chained in after theirs, so the queue is
    written first and their behaviour follows unchanged (``siginterrupt`` as gunicorn sets it).
    """
    base = sys.modules.get("gunicorn.workers.base")
    if base is None:
        return
    pending = [base.Worker]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        original = cls.__dict__.get("init_signals")
        if original is None or getattr(original, "_llamonitor", False):
            continue

        def init_signals(self: Any, _original: Any = original) -> None:
            _original(self)
            if install_signal_handlers() and hasattr(signal, "siginterrupt"):
                signal.siginterrupt(signal.SIGTERM, False)

        init_signals._llamonitor = True  # type: ignore[attr-defined]
        cls.init_signals = init_signals


class _ForkHook:
    """A weak-referenceable owner for the multiprocessing after-fork callbacks."""


_fork_hook = _ForkHook()


def _register_exit_finalizers() -> None:
    """Drain when a ``multiprocessing`` / ``billiard`` (Celery) child ends: they leave with ``os._exit``.

    Their bootstrap clears the finalizers inherited through the fork and then runs the after-fork
    callbacks, so the exit finalizer is registered from such a callback (and directly, for
    children that do not go through that bootstrap).
    """
    for name in ("multiprocessing.util", "billiard.util"):
        module = sys.modules.get(name)
        if module is None:
            continue
        try:
            module.Finalize(None, _drain_at_exit, exitpriority=100)
            module.register_after_fork(
                _fork_hook, lambda _hook, m=module: m.Finalize(None, _drain_at_exit, exitpriority=100))
        except Exception:  # pragma: no cover - an incompatible version: atexit still applies
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
