"""``create_query_backend``: the query layer for a storage config."""

from __future__ import annotations

from llamonitor.query.types import QueryBackend
from llamonitor.schema.config import StorageConfig


def create_query_backend(config: StorageConfig) -> QueryBackend:
    """The :class:`~llamonitor.query.types.QueryBackend` reading what ``config`` stores.

    Server backends connect on the first query (and create the table if it does not exist yet);
    ``await backend.close()`` releases the connections. Drivers are imported lazily: a missing
    one raises an error naming the extra to install.
    """
    name = config.backend
    if name == "parquet":
        from llamonitor.query.parquet import ParquetQueryBackend

        return ParquetQueryBackend(config)
    from llamonitor.backends.registry import create_backend
    from llamonitor.backends.sql_common import ServerBackend
    from llamonitor.query.sql import ClickHouseDialect, Dialect, MySQLDialect, SqlQueryBackend

    dialects: dict[str, type[Dialect]] = {"postgres": Dialect, "postgresql": Dialect, "mysql": MySQLDialect,
                                          "clickhouse": ClickHouseDialect}
    if name not in dialects:
        raise ValueError(f"no query layer for backend {name!r}; built in: parquet, {', '.join(dialects)}")
    backend = create_backend(config)
    if not isinstance(backend, ServerBackend):  # pragma: no cover - a re-registered name
        raise ValueError(f"backend {name!r} is not a llamonitor server backend")
    return SqlQueryBackend(backend, dialects[name]())
