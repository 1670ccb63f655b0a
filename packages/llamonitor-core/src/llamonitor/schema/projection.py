"""The summary projection of the stored event layout, and the label of a missing group.

Summaries (the query layer) and footer rollups (the Parquet writer) read the same few columns of
the event layout under short names; both sides take them from here, so a writer never imports the
query layer.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

#: Label of the group holding events without a model / agent.
NONE_LABEL = "(none)"


def summary_projection() -> dict[str, pc.Expression]:
    """The stored columns every summary and rollup reads, as short names over the event layout."""
    return {
        "session_id": pc.field("session_id"),
        "trace_id": pc.field("trace_id"),
        "duration_ms": pc.field("duration_ms"),
        "error": pc.field("error"),
        # integer nanoseconds (the dataset reads any file's unit as the schema's ns)
        "start_ns": pc.field("start_time").cast(pa.int64()),
        "end_ns": pc.field("end_time").cast(pa.int64()),
        "operation_name": pc.field("operation_name"),
        "model": pc.field("model"),
        "agent_name": pc.field("agent", "agent_name"),
        "usage_in": pc.field("usage", "input_tokens"),
        "usage_out": pc.field("usage", "output_tokens"),
        "text_in": pc.field("text_metrics", "input_tokens"),
        "text_out": pc.field("text_metrics", "output_tokens"),
        "cost": pc.field("cost", "total_cost_usd"),
    }


#: the schema of a table holding the columns of :func:`summary_projection` (for an empty dataset)
SUMMARY_SCHEMA = pa.schema([
    ("session_id", pa.string()), ("trace_id", pa.string()), ("duration_ms", pa.float64()), ("error", pa.bool_()),
    ("start_ns", pa.int64()), ("end_ns", pa.int64()), ("operation_name", pa.string()), ("model", pa.string()),
    ("agent_name", pa.string()), ("usage_in", pa.int64()), ("usage_out", pa.int64()), ("text_in", pa.int64()),
    ("text_out", pa.int64()), ("cost", pa.float64()),
])
