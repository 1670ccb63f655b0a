"""The writer's two build paths agree: plain records straight to columns == events built one by one.

``EventBuilder.build_batch`` builds records that no collector or capture touches straight into
storage columns (``transport.plain``); everything else goes through ``EventBuilder.build``. The
stored values, the Arrow table and the lazily made events must be exactly what the general path
gives, for every shape of record the hot path and the adapters enqueue.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from llamonitor import ids
from llamonitor.schema.batch import EventBatch
from llamonitor.schema.columnar import columns_to_table, events_to_table
from llamonitor.schema.columns import COLUMN_NAMES, event_to_row
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.schema.events import AgentIdentity, MetricEvent, TokenUsage
from llamonitor.transport.enrich import EventBuilder
from llamonitor.transport.records import OperationSpec

T0 = 1_767_225_600_000_000_000


class Hostile(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def _config(**kw: Any) -> MonitorConfig:
    return MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="unused"), **kw)


def _record(spec: OperationSpec, *, session: Any = None, trace: Any = None, span: Any = None, parent: Any = None,
            agent: Any = None, start: int = T0, duration: int = 1_500_000, error: Any = None,
            extra: Any = None) -> tuple[Any, ...]:
    # What the decorator enqueues: the spec's index when it has one (SPEC), else the spec (the others).
    return (spec.ref, session, ids.next_trace() if trace is None else trace, ids.next_span() if span is None else span,
            parent, agent, start, duration, None, None, None, error, extra)


SPEC = OperationSpec("plain_call", custom_attributes={"team": "search", "ünï": "✓"}, model="gpt-4o-mini",
                     indexed=True)
OTHER = OperationSpec("other_call", "agent_workflow", provider="openai")
EMPTY = OperationSpec("bare")
AGENT = AgentIdentity(framework="crewai", agent_id="a-1", agent_name="Researcher", agent_role="research",
                      task="find", graph_node="n", graph_step=3, handoff_from="Planner")


def plain_records() -> list[tuple[Any, ...]]:
    """Every shape a plain record takes: generated and adapter ids, sessions, errors, agents, extras."""
    return [
        _record(SPEC),
        _record(SPEC, session="user-1", parent=ids.next_span()),
        _record(OTHER, trace="trace-from-adapter", span="span-from-adapter", parent="parent-from-adapter"),
        _record(EMPTY, error=ValueError("bad input \x00 ✓")),
        _record(EMPTY, error=Hostile()),
        _record(SPEC, agent=AGENT, duration=0),
        _record(SPEC, extra={"model": "claude-3-5-sonnet", "provider": "anthropic", "stream": True}),
        _record(SPEC, extra={"model": "gpt-4o-mini", "response_model": "gpt-4o-mini-2024-07-18"}),
        _record(SPEC, extra={"attributes": {"team": "override", "n": 2}, "event_id": "fixed-event-id"}),
        _record(OTHER, extra={"usage": None, "model": None}),
        _record(EMPTY, session="", start=-5, duration=7),
        _record(SPEC, span=2**40, trace=2**70),  # beyond the counter's fast formatting range
    ]


def _expected_rows(builder: EventBuilder, records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [event_to_row(builder.build(r)) for r in records]


def test_plain_batch_is_columnar_and_equals_the_general_path() -> None:
    builder = EventBuilder(_config())
    records = plain_records()
    batch = builder.build_batch(records)
    assert builder.plain_built == len(records) and builder.build_errors == 0
    assert batch.rows == _expected_rows(EventBuilder(_config()), records)
    # columns that are null for the whole batch are not built at all
    columns = dict(zip(COLUMN_NAMES, batch.columns, strict=True))
    assert columns["usage_input_tokens"] is None and columns["cost_total_cost_usd"] is None
    assert columns["response_model"].count("gpt-4o-mini-2024-07-18") == 1
    assert columns["input_content"] is None and columns["agent_name"] == [
        "Researcher" if r[5] is AGENT else None for r in records]
    # events are made on demand, equal to the general path's
    expected = [EventBuilder(_config()).build(r) for r in records]
    assert list(batch) == expected
    assert batch[-1] == expected[-1] and batch[1:3] == expected[1:3]


def test_same_spec_batch_shares_constant_columns() -> None:
    builder = EventBuilder(_config())
    records = [_record(SPEC) for _ in range(1000)]
    batch = builder.build_batch(records)
    assert batch.rows == _expected_rows(EventBuilder(_config()), records)
    columns = dict(zip(COLUMN_NAMES, batch.columns, strict=True))
    assert columns["model"] == ["gpt-4o-mini"] * 1000 and columns["provider"] is None
    assert columns["response_model"] is None  # no record names an answering model
    assert len(set(columns["event_id"])) == 1000


def test_mixed_batch_keeps_order_and_builds_enriched_events() -> None:
    usage = TokenUsage(input_tokens=120, output_tokens=30)
    rich_spec = OperationSpec("measured", collectors=("text",))
    records = [
        _record(SPEC),
        _record(SPEC, extra={"usage": usage, "model": "gpt-4o-mini", "provider": "openai"}),  # cost collector
        _record(rich_spec),
        _record(OTHER, agent=AGENT),
    ]
    builder = EventBuilder(_config())
    batch = builder.build_batch(records)
    assert builder.plain_built == 3  # usage is priced into columns by the built-in cost collector
    expected = [EventBuilder(_config()).build(r) for r in records]
    assert [e.operation_name for e in batch] == ["plain_call", "plain_call", "measured", "other_call"]
    assert list(batch) == expected
    assert batch.rows == [event_to_row(e) for e in expected]
    assert batch[1].cost is not None and batch[1].cost.total_cost_usd > 0


def test_capture_content_takes_the_general_path() -> None:
    builder = EventBuilder(_config(capture_content=True))
    spec = OperationSpec("captured")
    record = (spec, None, 1, ids.next_span(), None, None, T0, 10, ("the prompt",), {}, "the answer", None, None)
    batch = builder.build_batch([record])
    assert builder.plain_built == 0
    assert batch[0].input_content == "the prompt" and batch[0].output_content == "the answer"


def test_arrow_table_from_columns_equals_table_from_events() -> None:
    records = plain_records()
    batch = EventBuilder(_config()).build_batch(records)
    events = [EventBuilder(_config()).build(r) for r in records]
    ours = columns_to_table(batch.columns, len(batch))
    assert ours.schema == events_to_table(events).schema
    assert ours.to_pylist() == events_to_table(events).to_pylist()
    assert ours.column("agent").null_count == len(records) - 1


def test_one_malformed_record_costs_only_itself(caplog: pytest.LogCaptureFixture) -> None:
    builder = EventBuilder(_config())
    good = [_record(SPEC) for _ in range(5)]
    broken = _record(SPEC, extra={"attributes": ["not", "a", "dict"]})
    with caplog.at_level(logging.WARNING, logger="llamonitor"):
        batch = builder.build_batch([*good[:2], broken, *good[2:]])
    assert len(batch) == 5 and builder.build_errors == 1
    assert batch.rows == _expected_rows(EventBuilder(_config()), good)
    assert "fast event path failed" in caplog.text


def test_event_batch_is_a_read_only_sequence() -> None:
    event = MetricEvent(event_id="e", session_id="s", trace_id="t", span_id="p", operation_name="op",
                        start_time_ns=T0, end_time_ns=T0 + 1, duration_ms=0.0)
    batch = EventBatch([event, None], [None, "source"], lambda source: event, event_to_row,
                       rows=[None, event_to_row(event)])
    assert len(batch) == 2 and batch[1] is event and batch[-2] is event
    with pytest.raises(IndexError):
        batch[2]
    assert batch.rows == [event_to_row(event)] * 2
    with pytest.raises(ValueError, match="rows or columns"):
        EventBatch([None], [None], lambda s: event, event_to_row)
