"""The adapter contract of core (``llamonitor.instrumentation.adapter``), used when core does not ship it yet.

Same public shape as core's: :class:`InstrumentOptions`, :class:`Adapter` (``instrument`` /
``uninstrument`` / ``is_instrumented``; subclasses implement ``_install`` / ``_uninstall``) and
:class:`UnsupportedVersion`. Once the installed core has the module, it is used instead.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version


class UnsupportedVersion(RuntimeError):
    """The framework's installed version is outside the range the adapter is tested with."""


@dataclass(frozen=True)
class InstrumentOptions:
    """What an adapter records beyond the defaults."""

    #: store prompts / outputs / tool arguments (``None``: follow ``MonitorConfig.capture_content``)
    capture_content: bool | None = None

    def capture(self) -> bool:
        """Whether content is stored now (the explicit option, else the active writer's config)."""
        if self.capture_content is not None:
            return self.capture_content
        from llamonitor import get_writer

        writer = get_writer()
        return writer is not None and writer.config.capture_content is True


def _version_key(text: str, width: int) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split(".")[:width]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits) if digits else 0)
    return tuple([*parts, *([0] * width)][:width])


class Adapter:
    """Base of a framework adapter: options, idempotent install, exact uninstall, one-time failure logs."""

    #: short name (logger ``llamonitor.<name>``)
    name = "adapter"
    #: value of ``AgentIdentity.framework``
    framework = ""
    #: pip name of the framework (for the version check)
    distribution = ""
    #: tested ``[low, high)`` version range of :attr:`distribution`, or ``None``
    supported: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.options = InstrumentOptions()
        self.log = logging.getLogger(f"llamonitor.{self.name}")
        self._installed = False
        self._warned: set[str] = set()

    def instrument(self, options: InstrumentOptions | None = None, *, capture_content: bool | None = None) -> bool:
        """Install the instrumentation; ``True`` if newly installed, ``False`` if it was (options updated)."""
        if options is None:
            options = InstrumentOptions(capture_content=capture_content)
        with self.lock:
            self.options = options
            if self._installed:
                return False
            self.check_version()
            self._install()
            self._installed = True
            return True

    def uninstrument(self) -> None:
        """Remove the instrumentation (a no-op when it is not installed)."""
        with self.lock:
            if not self._installed:
                return
            self._installed = False
            self._uninstall()

    def is_instrumented(self) -> bool:
        """Whether the instrumentation is installed."""
        return self._installed

    def check_version(self) -> None:
        """Raise :class:`UnsupportedVersion` naming the tested range when the installed framework is outside it."""
        if self.supported is None or not self.distribution:
            return
        try:
            found = version(self.distribution)
        except PackageNotFoundError:
            return  # the import in _install names the extra to install
        low, high = self.supported
        key = _version_key(found, max(len(low), len(high)))
        if not low <= key < high:
            lo, hi = (".".join(map(str, v)) for v in self.supported)
            raise UnsupportedVersion(f"llamonitor-{self.name} is tested with {self.distribution} >={lo},<{hi}; "
                                     f"found {found}")

    def warn_once(self, key: str, message: str) -> None:
        """Log an instrumentation failure once per ``key`` (never raises)."""
        if key in self._warned:
            return
        self._warned.add(key)
        try:
            self.log.warning("llamonitor-%s: %s; the call itself is unaffected (logged once)", self.name, message,
                             exc_info=True)
        except Exception:
            pass

    def report(self, exc: BaseException) -> None:
        """Log an instrumentation failure once per exception type."""
        self.warn_once(f"exc:{type(exc).__name__}", f"recording failed ({exc!r})")

    def _install(self) -> None:
        raise NotImplementedError

    def _uninstall(self) -> None:
        raise NotImplementedError
