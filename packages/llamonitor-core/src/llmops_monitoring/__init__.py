"""``llmops_monitoring``: the seed project's import name, kept as an alias of :mod:`llamonitor`.

Nothing is copied: ``import llmops_monitoring.schema.config`` returns the very module object
``llamonitor.schema.config`` (an import hook maps names), so classes, registries and state are
shared. A few seed paths moved in llamonitor; :data:`RENAMED` maps them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

#: seed module path (below ``llmops_monitoring``) -> llamonitor module, where they differ
RENAMED: dict[str, str] = {
    "instrumentation.context": "llamonitor.context",
    "instrumentation.decorators": "llamonitor.instrumentation.decorators",
    "transport.writer": "llamonitor.transport.worker",
    "anomaly": "llamonitor.analytics.anomaly",
    "agent": "llamonitor.analytics.agents",
    "storage": "llamonitor.backends",
}
_PREFIX = __name__ + "."


def _target(fullname: str) -> str:
    rest = fullname[len(_PREFIX):]
    if rest in RENAMED:
        return RENAMED[rest]
    head, _, tail = rest.partition(".")
    if head in RENAMED and tail:  # a renamed package's submodules follow it
        return f"{RENAMED[head]}.{tail}"
    return "llamonitor." + rest


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        # The target module is already executed; it is shared, not re-run.
        return None


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_PREFIX):
            return None
        real = _target(fullname)
        if importlib.util.find_spec(real) is None:
            return None
        module = importlib.import_module(real)
        is_pkg = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real), is_package=is_pkg)


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())

from llamonitor import *  # noqa: E402,F403
from llamonitor import __all__ as _all  # noqa: E402
from llamonitor import __version__  # noqa: E402,F401

__all__ = list(_all)
