"""Register the ``llamonitor.json`` Arrow type when pyarrow is imported, not before.

``pd.read_parquet`` turns the ``custom_attributes`` column into dicts only when the extension
type is registered in the reading process. Importing :mod:`llamonitor.schema.arrow` from
``import llamonitor`` would load pyarrow eagerly (~0.2 s); instead a one-shot import hook
registers the type right after pyarrow itself finishes importing (or at once if it already has).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from types import ModuleType
from typing import Any

logger = logging.getLogger("llamonitor")


def _register() -> None:
    try:
        import llamonitor.schema.arrow  # noqa: F401 - registers the type on import
    except Exception:  # never break the user's pyarrow import
        logger.debug("llamonitor: could not register the llamonitor.json Arrow type", exc_info=True)


class _PyarrowHook(importlib.abc.MetaPathFinder):
    busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pyarrow" or self.busy:
            return None
        self.busy = True  # ask the other finders (we are skipped while busy)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy = False
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            _register()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Register now if pyarrow is loaded, else once it is."""
    if "pyarrow" in sys.modules:
        _register()
    elif not any(isinstance(f, _PyarrowHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _PyarrowHook())
