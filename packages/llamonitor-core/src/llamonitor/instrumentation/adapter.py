"""The contract every llamonitor adapter package follows.

An adapter subclasses :class:`Adapter`, names itself, and implements two hooks; one instance per
package binds the module's public functions::

    class CrewAIAdapter(Adapter):
        name = "crewai"                  # logger ``llamonitor.crewai``
        framework = "crewai"             # AgentIdentity.framework of its events
        distribution = "crewai"          # the framework's pip name, for the version check
        supported = ((0, 100), (2, 0))   # tested versions, [low, high)
        install_hint = "pip install 'llamonitor-crewai[crewai]'"

        def _install(self) -> None: ...   # hook into the framework (it may raise)
        def _uninstall(self) -> None: ... # undo exactly what _install did

    _adapter = CrewAIAdapter()
    instrument_crewai = _adapter.instrument
    uninstrument_crewai = _adapter.uninstrument
    is_instrumented = _adapter.is_instrumented

Why one shape: users learn one call (``instrument_x(capture_content=...)`` returning whether it
hooked in now), every adapter resolves "follow the config" the same way, and every failure of
ours lands in one logger tree (``llamonitor.*``, with a ``NullHandler`` on ``llamonitor``) and is
reported once, never raised into the framework.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

__all__ = ["Adapter", "InstrumentOptions", "UnsupportedVersion", "capture_enabled", "make_warn_once",
           "version_tuple"]

#: adapter name -> keys already reported (shared by every warn-once of one adapter)
_WARNED: dict[str, set[str]] = {}


def make_warn_once(adapter: str) -> Callable[[str, str], None]:
    """A ``warn_once(key, message)`` for adapter ``adapter`` (logger ``llamonitor.<adapter>``).

    Each key is logged once per process, with the traceback of the exception being handled;
    every warn-once of one adapter name shares its set of keys. Never raises.
    """
    logger = logging.getLogger(f"llamonitor.{adapter}")
    warned = _WARNED.setdefault(adapter, set())
    package = adapter.replace("_", "-")

    def warn_once(key: str, message: str) -> None:
        """Log an instrumentation failure once per ``key`` (never raises)."""
        if key in warned:
            return
        warned.add(key)
        try:
            logger.warning("llamonitor-%s: %s; the call itself is unaffected (logged once)", package, message,
                           exc_info=True)
        except Exception:
            pass

    return warn_once


class UnsupportedVersion(RuntimeError):
    """The installed framework is outside the version range the adapter was tested with."""


@dataclass(frozen=True)
class InstrumentOptions:
    """Options passed in at instrument time (the adapters' counterpart of OpenInference's ``TraceConfig``).

    ``capture_content``: ``None`` follows ``MonitorConfig.capture_content`` of the running writer;
    ``True`` / ``False`` force it for this adapter (the config's ``content_redactor`` still applies).
    """

    capture_content: bool | None = None

    def capture(self) -> bool:
        """Whether prompts and completions are recorded now."""
        return capture_enabled(self.capture_content)


def capture_enabled(forced: bool | None) -> bool:
    """``forced`` if set, else the running writer's ``capture_content`` (off when not monitoring)."""
    if forced is not None:
        return forced
    from llamonitor.runtime import get_writer  # late: adapters import this module before monitoring starts

    writer = get_writer()
    return writer is not None and writer.config.capture_content is True


def version_tuple(version: str, parts: int = 2) -> tuple[int, ...]:
    """``"0.24.1rc2"`` -> ``(0, 24)``: the leading digits of the first ``parts`` components."""
    out: list[int] = []
    for piece in version.split(".")[:parts]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        out.append(int(digits) if digits else 0)
    return tuple([*out, *([0] * parts)][:parts])


class Adapter:
    """Base class of an adapter: instrument / uninstrument / is_instrumented, options, logging."""

    #: short name; the logger is ``llamonitor.<name>``
    name: ClassVar[str] = "adapter"
    #: ``AgentIdentity.framework`` of the events this adapter records
    framework: ClassVar[str] = ""
    #: the framework's distribution (pip) name, for :meth:`check_version`; ``""``: no check
    distribution: ClassVar[str] = ""
    #: the module imported first (``ImportError`` naming :attr:`install_hint` when missing)
    module: ClassVar[str] = ""
    #: tested versions of :attr:`distribution`, ``[low, high)``; ``None``: any
    supported: ClassVar[tuple[tuple[int, ...], tuple[int, ...]] | None] = None
    #: what to run when the framework is missing
    install_hint: ClassVar[str] = ""

    @property
    def package(self) -> str:
        """The adapter's distribution name, for messages (``llamonitor-openai-agents``)."""
        return "llamonitor-" + self.name.replace("_", "-")

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.options = InstrumentOptions()
        self.log = logging.getLogger(f"llamonitor.{self.name}")
        #: ``warn_once(key, message)``: log an instrumentation failure once per key; never raises
        self.warn_once = make_warn_once(self.name)
        self._installed = False

    # -- public API (bound as module functions by each package) ---------------------------------

    def instrument(self, options: InstrumentOptions | None = None, *, capture_content: bool | None = None) -> bool:
        """Hook llamonitor into the framework.

        Idempotent and thread-safe: returns ``True`` when this call hooked in, ``False`` when it
        already was (the options are updated). ``capture_content`` is a shortcut for
        ``InstrumentOptions(capture_content=...)``. Raises ``ImportError`` naming the extra to
        install when the framework is missing, and :class:`UnsupportedVersion` outside the tested
        range.
        """
        opts = options if options is not None else InstrumentOptions()
        if capture_content is not None:
            opts = replace(opts, capture_content=capture_content)
        with self.lock:
            self.options = opts
            if self._installed:
                return False
            self.import_framework()
            self.check_version()
            self._install()
            self._installed = True
            return True

    def uninstrument(self) -> None:
        """Remove every hook :meth:`instrument` installed (a no-op when none is)."""
        with self.lock:
            if not self._installed:
                return
            try:
                self._uninstall()
            finally:
                self._installed = False

    def is_instrumented(self) -> bool:
        """Whether the adapter's hooks are in effect."""
        return self._installed

    # -- hooks -------------------------------------------------------------------------------------

    def _install(self) -> None:
        """Hook into the framework (called once, under :attr:`lock`)."""
        raise NotImplementedError

    def _uninstall(self) -> None:
        """Undo exactly what :meth:`_install` did."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------------

    def capture(self) -> bool:
        """Whether to record content now (the adapter's option, else the config)."""
        return capture_enabled(self.options.capture_content)

    def import_framework(self) -> None:
        """Import :attr:`module`, turning a missing framework into an ``ImportError`` that says what to install."""
        if not self.module:
            return
        try:
            importlib.import_module(self.module)
        except ImportError as exc:
            raise ImportError(f"{self.package} needs {self.distribution or self.module}: "
                              f"{self.install_hint or 'install the framework'}") from exc

    def installed_version(self) -> str | None:
        """The installed version of :attr:`distribution`, or ``None``."""
        if not self.distribution:
            return None
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def check_version(self) -> None:
        """Raise :class:`UnsupportedVersion` when the framework is outside :attr:`supported`."""
        if self.supported is None:
            return
        version = self.installed_version()
        if version is None:
            return
        low, high = self.supported
        key = version_tuple(version, max(len(low), len(high)))
        if not (low <= key < high):
            raise UnsupportedVersion(
                f"{self.package} supports {self.distribution} >= {'.'.join(map(str, low))}, "
                f"< {'.'.join(map(str, high))}; {version} is installed. Pin a supported version "
                f"or upgrade {self.package}.")

    def report(self, exc: BaseException, key: str = "hook") -> None:
        """Log a failure of ours inside a framework hook once (call from an ``except`` block)."""
        self.warn_once(key, f"recording a {self.framework or self.name} event failed ({exc!r})")
