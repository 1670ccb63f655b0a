"""Reading stored events back: one :class:`QueryBackend` protocol over every storage backend.

``create_query_backend(storage_config)`` returns the implementation for Parquet, PostgreSQL,
MySQL / MariaDB or ClickHouse; the result types live in :mod:`llamonitor.query.types`.
``summarize_parquet`` (used by ``llamonitor report``) summarises a Parquet folder directly.
"""

from __future__ import annotations

from llamonitor.query.factory import create_query_backend
from llamonitor.query.summary import GroupStats, LatencyStats, NoDataError, Summary, summarize_parquet, summarize_table
from llamonitor.query.types import (
    CostRow,
    EventFilter,
    EventPage,
    QueryBackend,
    SessionInfo,
    TimeBucket,
    TraceInfo,
)

__all__ = ["CostRow", "EventFilter", "EventPage", "GroupStats", "LatencyStats", "NoDataError", "QueryBackend",
           "SessionInfo", "Summary", "TimeBucket", "TraceInfo", "create_query_backend", "summarize_parquet",
           "summarize_table"]
