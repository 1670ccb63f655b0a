"""Backend registry: maps ``StorageConfig.backend`` names to factories, importing lazily."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llamonitor.backends.base import StorageBackend
    from llamonitor.schema.config import StorageConfig

BackendFactory = Callable[["StorageConfig"], "StorageBackend"]

#: name -> (module path, class name, pip extra that provides its driver)
_BUILTIN: dict[str, tuple[str, str, str]] = {
    "parquet": ("llamonitor.backends.parquet", "ParquetBackend", "parquet"),
    "postgres": ("llamonitor.backends.postgres", "PostgresBackend", "postgres"),
    "postgresql": ("llamonitor.backends.postgres", "PostgresBackend", "postgres"),
    "mysql": ("llamonitor.backends.mysql", "MySQLBackend", "mysql"),
    "clickhouse": ("llamonitor.backends.clickhouse", "ClickHouseBackend", "clickhouse"),
}
_custom: dict[str, BackendFactory] = {}
_lock = threading.Lock()


class BackendNotAvailableError(RuntimeError):
    """A configured backend cannot be created (driver missing or not implemented)."""


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``StorageConfig(backend=name)`` build its backend with ``factory(storage_config)``."""
    key = name.strip().lower()
    if not key:
        raise ValueError("backend name must be a non-empty string")
    with _lock:
        _custom[key] = factory


def unregister_backend(name: str) -> None:
    """Remove a custom backend registration."""
    with _lock:
        _custom.pop(name.strip().lower(), None)


def available_backends() -> list[str]:
    """Every name ``StorageConfig.backend`` accepts."""
    return sorted(set(_BUILTIN) | set(_custom))


def create_backend(config: StorageConfig) -> StorageBackend:
    """Build the backend ``config`` names; errors name the missing extra."""
    name = config.backend
    if name in _custom:
        return _custom[name](config)
    try:
        module_name, class_name, extra = _BUILTIN[name]
    except KeyError:
        raise BackendNotAvailableError(
            f"unknown backend {name!r}; available: {', '.join(available_backends())}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("llamonitor.backends"):
            raise BackendNotAvailableError(
                f"backend {name!r} is not available in this version of llamonitor") from None
        raise BackendNotAvailableError(
            f"backend {name!r} needs the optional dependency {exc.name!r}: "
            f"pip install 'llamonitor[{extra}]'") from None
    factory: BackendFactory = getattr(module, class_name)
    return factory(config)
