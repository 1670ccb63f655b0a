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
    from llamonitor.backends.registry import builtin_spec, create_backend, load

    name = config.backend
    spec = builtin_spec(name)
    if spec is None:
        raise ValueError(f"no query layer for backend {name!r} (a registered custom backend has none)")
    from llamonitor.backends.sql_common import ServerBackend
    from llamonitor.query.sql import Dialect, SqlQueryBackend

    reader = load(spec, spec.query)
    if not (isinstance(reader, type) and issubclass(reader, Dialect)):
        backend: QueryBackend = reader(config)
        return backend
    server = create_backend(config)
    if not isinstance(server, ServerBackend):  # pragma: no cover - a re-registered name
        raise ValueError(f"backend {name!r} is not a llamonitor server backend")
    return SqlQueryBackend(server, reader())
