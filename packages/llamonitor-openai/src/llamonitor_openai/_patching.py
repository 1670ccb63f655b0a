"""Install / remove wrapt function wrappers on SDK classes, restoring the exact originals."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import wrapt

logger = logging.getLogger("llamonitor.openai")
_warned: set[str] = set()

#: (module, class name, method name, wrapper)
Target = tuple[str, str, str, Callable[..., Any]]


def warn_once(key: str, message: str) -> None:
    """Log an instrumentation failure once per ``key`` (never raises)."""
    if key in _warned:
        return
    _warned.add(key)
    try:
        logger.warning("llamonitor-openai: %s; the call itself is unaffected (logged once)", message,
                       exc_info=True)
    except Exception:
        pass


class Patcher:
    """Applies wrappers to ``Class.method`` attributes and puts the originals back."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._saved: list[tuple[type, str, Any]] = []

    @property
    def active(self) -> bool:
        """Whether wrappers are installed."""
        return bool(self._saved)

    def apply(self, targets: Sequence[Target]) -> int:
        """Wrap every target that exists; returns how many were wrapped."""
        for module_name, cls_name, method, wrapper in targets:
            try:
                module = importlib.import_module(module_name)
                cls = getattr(module, cls_name)
            except (ImportError, AttributeError):
                continue  # an older / newer SDK without this resource
            if method not in cls.__dict__:
                continue
            original = cls.__dict__[method]
            wrapt.wrap_function_wrapper(cls, method, wrapper)
            self._saved.append((cls, method, original))
        return len(self._saved)

    def restore(self) -> None:
        """Put back the exact attributes that were replaced."""
        while self._saved:
            cls, method, original = self._saved.pop()
            setattr(cls, method, original)
