"""Backend registry: one entry per storage backend, everything llamonitor needs to know of it.

A built-in backend is one :class:`BackendSpec` in :data:`BUILTIN` (plus its module): the writer
class, the query layer's reader, the pip extra of its driver, whether it needs a DSN, the
``StorageConfig.options`` keys it reads, and whether it stores files under ``output_dir``.
Config validation, the writer, the query factory and the CLI all read that one entry. Modules
are named as strings and imported on first use, so naming a backend costs no driver import and
this module imports nothing of llamonitor's (``schema.config`` may read it while validating).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llamonitor.backends.base import StorageBackend
    from llamonitor.schema.config import StorageConfig

BackendFactory = Callable[["StorageConfig"], "StorageBackend"]

_SERVER_OPTIONS = frozenset({"on_connect_error", "exact_percentile_limit"})


@dataclass(frozen=True)
class BackendSpec:
    """Everything llamonitor knows of one built-in backend."""

    #: ``StorageConfig.backend`` value (lower case)
    name: str
    #: ``"module:Class"`` of the :class:`~llamonitor.backends.base.StorageBackend`
    writer: str
    #: ``"module:Class"`` of its reader: a ``QueryBackend`` taking the ``StorageConfig``, or a SQL
    #: ``Dialect`` (the query layer wraps the writer's connection in ``SqlQueryBackend``)
    query: str
    #: pip extra that installs its driver (``pip install 'llamonitor[<extra>]'``)
    extra: str
    #: ``StorageConfig.options`` keys it reads (others are refused by name)
    options: frozenset[str]
    #: whether ``storage.connection_string`` is required
    needs_dsn: bool = False
    #: whether it stores files under ``storage.output_dir`` (which must then be a writable folder)
    files: bool = False
    #: other names accepted for it
    aliases: tuple[str, ...] = ()


#: the built-in backends; adding one is adding its module and one entry here
BUILTIN: tuple[BackendSpec, ...] = (
    BackendSpec("parquet", "llamonitor.backends.parquet:ParquetBackend",
                "llamonitor.query.parquet:ParquetQueryBackend", "parquet",
                frozenset({"rollups", "exact_percentile_limit", "listing_max_age_ms"}), files=True),
    BackendSpec("postgres", "llamonitor.backends.postgres:PostgresBackend", "llamonitor.query.sql:Dialect",
                "postgres", _SERVER_OPTIONS | {"rollups", "copy_streams", "work_mem", "notify"}, needs_dsn=True,
                aliases=("postgresql",)),
    BackendSpec("mysql", "llamonitor.backends.mysql:MySQLBackend", "llamonitor.query.sql:MySQLDialect",
                "mysql", _SERVER_OPTIONS, needs_dsn=True),
    BackendSpec("clickhouse", "llamonitor.backends.clickhouse:ClickHouseBackend",
                "llamonitor.query.sql:ClickHouseDialect", "clickhouse", _SERVER_OPTIONS, needs_dsn=True),
)
#: every accepted built-in name (aliases included) -> its spec
_BUILTIN: dict[str, BackendSpec] = {n: spec for spec in BUILTIN for n in (spec.name, *spec.aliases)}
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


def builtin_spec(name: str) -> BackendSpec | None:
    """The built-in backend ``name`` (or alias) stands for, or ``None`` (custom or unknown)."""
    return _BUILTIN.get(name)


def load(spec: BackendSpec, target: str) -> Any:
    """Import ``"module:attr"`` of ``spec``; a missing driver names the extra to install."""
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("llamonitor."):
            raise BackendNotAvailableError(
                f"backend {spec.name!r} is not available in this version of llamonitor") from None
        raise BackendNotAvailableError(
            f"backend {spec.name!r} needs the optional dependency {exc.name!r}: "
            f"pip install 'llamonitor[{spec.extra}]'") from None
    return getattr(module, attr)


def create_backend(config: StorageConfig) -> StorageBackend:
    """Build the backend ``config`` names; errors name the missing extra."""
    name = config.backend
    if name in _custom:
        return _custom[name](config)
    spec = _BUILTIN.get(name)
    if spec is None:
        raise BackendNotAvailableError(
            f"unknown backend {name!r}; available: {', '.join(available_backends())}")
    factory: BackendFactory = load(spec, spec.writer)
    return factory(config)


def is_file_backend(name: str) -> bool:
    """Whether backend ``name`` stores files under ``storage.output_dir``."""
    spec = _BUILTIN.get(name)
    return spec is not None and spec.files


def describe_storage(storage: StorageConfig, *, dsn: bool = True) -> str:
    """Where ``storage`` writes, in words, for messages (the DSN masked, or left out)."""
    if is_file_backend(storage.backend):
        return f"{storage.backend} {storage.output_dir}"
    schema = f"{storage.schema_name}." if storage.schema_name else ""
    if not dsn:
        return f"{storage.backend} table {schema}{storage.table_name}"
    from llamonitor.backends.dsn import mask_dsn

    where = mask_dsn(storage.connection_string) if storage.connection_string else "(no DSN)"
    return f"{storage.backend} {where} table {schema}{storage.table_name}"
