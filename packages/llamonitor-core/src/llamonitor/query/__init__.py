"""Reading stored events back: summaries now, the full query layer later."""

from __future__ import annotations

from llamonitor.query.summary import (
    GroupStats,
    LatencyStats,
    NoDataError,
    Summary,
    summarize_parquet,
    summarize_table,
)

__all__ = ["GroupStats", "LatencyStats", "NoDataError", "Summary", "summarize_parquet", "summarize_table"]
