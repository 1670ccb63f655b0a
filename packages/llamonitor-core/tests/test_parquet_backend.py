"""Parquet backend: fixed schema, partitions, atomic files, exact round trip."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
from llamonitor import AgentIdentity, CostInfo, MetricEvent, StorageConfig, TextMetrics, TokenUsage
from llamonitor.backends.arrow import EVENT_SCHEMA, table_to_events
from llamonitor.backends.parquet import ParquetBackend

T0 = datetime(2026, 11, 27, 23, 59, 59, 123456, tzinfo=timezone.utc)


def event(i: int, **kw: object) -> MetricEvent:
    base: dict[str, object] = dict(event_id=f"e{i}", session_id="s", trace_id="t", span_id=f"sp{i}",
                                   operation_name="op", start_time=T0 + timedelta(seconds=i),
                                   end_time=T0 + timedelta(seconds=i, milliseconds=5), duration_ms=5.0)
    base.update(kw)
    return MetricEvent.at(**base)  # type: ignore[arg-type]


def backend(tmp_path: Path, **kw: object) -> ParquetBackend:
    b = ParquetBackend(StorageConfig(output_dir=str(tmp_path), **kw))  # type: ignore[arg-type]
    asyncio.run(b.initialize())
    return b


def test_every_file_has_the_same_schema_whatever_the_batch_holds(tmp_path: Path) -> None:
    b = backend(tmp_path)
    b.write_sync([event(0)])  # nothing optional set
    b.write_sync([event(1, text_metrics=TextMetrics(char_count=5), usage=TokenUsage(input_tokens=3),
                        cost=CostInfo(total_cost_usd=0.5), agent=AgentIdentity(agent_name="a"),
                        custom_attributes={"k": [1, 2]}, error=True, error_type="E")])
    files = sorted(tmp_path.rglob("*.parquet"))
    assert len(files) == 2
    schemas = [pq.read_schema(f) for f in files]
    assert all(s.equals(EVENT_SCHEMA, check_metadata=False) for s in schemas)
    assert ds.dataset(str(tmp_path)).to_table().num_rows == 2  # no type drift between files


def test_round_trip_is_exact_including_unicode_and_nulls(tmp_path: Path) -> None:
    b = backend(tmp_path)
    original = event(7, model="gpt-4o", provider="openai", error_message="ünïcødé 💥 \x00 quote' \"",
                     custom_attributes={"nested": {"a": [1, None, "ß"]}, "big": "x" * 100_000},
                     text_metrics=TextMetrics(char_count=1, token_reliability="exact"),
                     agent=AgentIdentity(framework="crewai", agent_id="42", agent_name="Researcher",
                                         graph_step=3, handoff_from="Planner"))
    b.write_sync([original])
    (back,) = table_to_events(ds.dataset(str(tmp_path)).to_table())
    assert back == original


def test_date_partitions_use_the_event_utc_date(tmp_path: Path) -> None:
    b = backend(tmp_path)
    b.write_sync([event(0), event(1)])  # 23:59:59 and 00:00:00 next day
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-27", "2026-11-28"]


def test_session_partitions_are_sanitised(tmp_path: Path) -> None:
    b = backend(tmp_path, partition_by="session_id")
    b.write_sync([event(0, session_id="../../etc/passwd"), event(1, session_id="user 7/ä")])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert all("/" not in n and not n.startswith(".") for n in names)
    assert all(p.resolve().parent == tmp_path.resolve() for p in tmp_path.iterdir())
    assert len(names) == 2


def test_no_temporary_files_remain_and_names_follow_the_layout(tmp_path: Path) -> None:
    b = backend(tmp_path)
    for i in range(5):
        b.write_sync([event(i)])
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".parquet")]
    assert leftovers == []
    assert all(p.name.startswith("events_") for p in tmp_path.rglob("*.parquet"))


def test_pandas_reads_custom_attributes_as_dicts(tmp_path: Path) -> None:
    import pandas as pd

    b = backend(tmp_path)
    b.write_sync([event(0, custom_attributes={"estimated_cost_usd": 0.25}),
                  event(1, custom_attributes={"estimated_cost_usd": 0.5})])
    df = pd.read_parquet(str(tmp_path))
    assert df["custom_attributes"].apply(lambda x: x.get("estimated_cost_usd")).sum() == 0.75
    assert df["text_metrics"].isna().all()
