"""``summarize_parquet``: numbers checked against hand-computed values on a small dataset."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from llamonitor.backends.parquet import ParquetBackend
from llamonitor.query.summary import NoDataError, read_summary_columns, summarize_parquet
from llamonitor.schema.arrow import EVENT_SCHEMA
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import AgentIdentity, CostInfo, MetricEvent, TextMetrics, TokenUsage
from llamonitor.transport.spill import SpillStore

DAY1 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
DAY2 = datetime(2025, 3, 2, 8, 30, tzinfo=timezone.utc)


def _event(n: int, *, session: str, trace: str, op: str, duration: float, start: datetime = DAY1,
           error: bool = False, model: str | None = None, agent: str | None = None,
           usage: TokenUsage | None = None, text: TextMetrics | None = None,
           cost: float | None = None) -> MetricEvent:
    return MetricEvent.at(
        event_id=f"e{n}", session_id=session, trace_id=trace, span_id=f"s{n}", operation_name=op,
        start_time=start, end_time=start + timedelta(milliseconds=duration), duration_ms=duration,
        error=error, error_type="RateLimitError" if error else None, model=model,
        agent=AgentIdentity(agent_name=agent) if agent else None, usage=usage, text_metrics=text,
        cost=CostInfo(total_cost_usd=cost) if cost is not None else None,
        input_content="secret prompt", output_content="secret answer")


def _events() -> list[MetricEvent]:
    return [
        # provider usage wins over measured tokens
        _event(1, session="s1", trace="t1", op="classify", duration=10, model="gpt-4o-mini", agent="classifier",
               usage=TokenUsage(input_tokens=100, output_tokens=20),
               text=TextMetrics(input_tokens=90, output_tokens=25), cost=0.001),
        _event(2, session="s1", trace="t1", op="classify", duration=20, model="gpt-4o-mini", agent="classifier",
               text=TextMetrics(input_tokens=50, output_tokens=10), cost=0.002, error=True),
        _event(3, session="s1", trace="t2", op="answer", duration=30, model="gpt-4o-mini", agent="responder"),
        # same trace id as e1 but another session: a different trace; usage fills input only
        _event(4, session="s2", trace="t1", op="answer", duration=40, model="claude-sonnet-4-5",
               usage=TokenUsage(input_tokens=7), text=TextMetrics(input_tokens=1000, output_tokens=3),
               cost=0.0105),
        _event(5, session="s2", trace="t3", op="workflow", duration=100, start=DAY2, error=True),
    ]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    backend = ParquetBackend(StorageConfig(backend="parquet", output_dir=str(root)))
    events = _events()
    backend.write_sync(events[:2])
    backend.write_sync(events[2:])
    # Neither a spill folder nor a temporary file of an unfinished write is part of the data.
    SpillStore(root / "_spill").write_batch("parquet", events)
    (root / "2025-03-01" / ".events_unfinished.parquet.tmp").write_bytes(b"partial")
    return root


def test_totals_and_exact_percentiles(dataset: Path) -> None:
    s = summarize_parquet(dataset)
    assert sorted(p.parent.name for p in dataset.glob("*/events_*.parquet")) == [
        "2025-03-01", "2025-03-01", "2025-03-02"]
    assert s.files == 3
    assert s.total_events == 5
    assert s.errors == 2 and s.error_rate == pytest.approx(0.4)
    assert s.sessions == 2
    assert s.traces == 4  # (s1,t1) (s1,t2) (s2,t1) (s2,t3)
    # durations 10, 20, 30, 40, 100; linear interpolation at rank q * (n - 1)
    assert s.latency.p50_ms == pytest.approx(30.0)
    assert s.latency.p95_ms == pytest.approx(40 + 0.8 * 60)  # rank 3.8
    assert s.latency.p99_ms == pytest.approx(40 + 0.96 * 60)  # rank 3.96
    assert s.latency.mean_ms == pytest.approx(40.0)
    assert s.latency.max_ms == pytest.approx(100.0)
    assert (s.input_tokens, s.output_tokens, s.total_tokens) == (100 + 50 + 7, 20 + 10 + 3, 190)
    assert s.total_cost_usd == pytest.approx(0.0135)
    assert s.priced_events == 3
    assert s.first_event == DAY1
    assert s.last_event == DAY2 + timedelta(milliseconds=100)


def test_group_bys(dataset: Path) -> None:
    s = summarize_parquet(dataset)
    models = {g.key: g for g in s.by_model}
    assert [g.key for g in s.by_model] == ["gpt-4o-mini", "(none)", "claude-sonnet-4-5"]
    mini = models["gpt-4o-mini"]
    assert (mini.events, mini.errors, mini.input_tokens, mini.output_tokens) == (3, 1, 150, 30)
    assert mini.error_rate == pytest.approx(1 / 3)
    assert mini.cost_usd == pytest.approx(0.003)
    assert mini.latency.p50_ms == pytest.approx(20.0)
    assert mini.latency.p95_ms == pytest.approx(20 + 0.9 * 10)  # rank 1.9 of [10, 20, 30]
    assert mini.latency.p99_ms == pytest.approx(20 + 0.98 * 10)
    assert models["claude-sonnet-4-5"].latency.p95_ms == pytest.approx(40.0)
    assert models["(none)"].cost_usd is None  # nothing priced: no cost, not $0

    agents = {g.key: g for g in s.by_agent}
    assert [g.key for g in s.by_agent] == ["(none)", "classifier", "responder"]  # ties sorted by key
    assert agents["classifier"].events == 2 and agents["classifier"].errors == 1
    assert agents["classifier"].latency.p50_ms == pytest.approx(15.0)
    assert agents["(none)"].latency.p50_ms == pytest.approx(70.0)
    assert agents["(none)"].latency.p95_ms == pytest.approx(40 + 0.95 * 60)
    assert agents["responder"].input_tokens == 0

    ops = {g.key: (g.events, g.errors) for g in s.by_operation}
    assert ops == {"classify": (2, 1), "answer": (2, 0), "workflow": (1, 1)}
    assert sum(g.events for g in s.by_operation) == s.total_events


def test_content_columns_are_not_read(dataset: Path) -> None:
    table = read_summary_columns(sorted(dataset.glob("*/events_*.parquet")))
    assert "input_content" not in table.column_names and "output_content" not in table.column_names
    assert table.num_rows == 5


def test_json_dict_and_single_file(dataset: Path) -> None:
    s = summarize_parquet(dataset)
    data = json.loads(json.dumps(s.to_dict()))
    assert data["total_events"] == 5 and data["first_event"] == DAY1.isoformat()
    assert data["by_model"][0]["latency"]["p50_ms"] == pytest.approx(20.0)
    one = sorted(dataset.glob("2025-03-02/events_*.parquet"))[0]
    single = summarize_parquet(one)
    assert (single.files, single.total_events, single.errors) == (1, 1, 1)


def test_missing_empty_and_rowless(tmp_path: Path) -> None:
    with pytest.raises(NoDataError, match="does not exist"):
        summarize_parquet(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoDataError, match="no event Parquet files"):
        summarize_parquet(tmp_path / "empty")
    rowless = tmp_path / "rowless"
    rowless.mkdir()
    pq.write_table(EVENT_SCHEMA.empty_table(), rowless / "events_0.parquet")
    s = summarize_parquet(rowless)
    assert s.total_events == 0 and s.latency.p50_ms is None and s.by_model == []
    assert s.first_event is None and s.total_cost_usd == 0.0
