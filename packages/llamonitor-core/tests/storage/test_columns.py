"""The flat layout column by column (what Parquet, spill and export convert) equals it row by row."""

from __future__ import annotations

import pytest
from llamonitor.schema.columnar import batch_columns, columns_to_table
from llamonitor.schema.columns import COLUMN_NAMES, events_to_columns, events_to_rows
from llamonitor.schema.events import MetricEvent
from testkits.storage import edge_events, make_events


@pytest.mark.parametrize("events", [make_events(400, seed=11), edge_events(), []], ids=["varied", "edges", "empty"])
def test_columns_are_the_rows_transposed(events: list[MetricEvent]) -> None:
    columns = events_to_columns(events)
    assert len(columns) == len(COLUMN_NAMES)
    rows = [tuple(None if c is None else c[i] for c in columns) for i in range(len(events))]
    assert rows == events_to_rows(events)
    # a group absent from every event is one null column, never materialised
    if events and all(e.image_metrics is None for e in events):
        assert columns[COLUMN_NAMES.index("image_count")] is None
    table = columns_to_table(batch_columns(events), len(events))
    assert table.num_rows == len(events)
    assert table.column("event_id").to_pylist() == [e.event_id for e in events]
