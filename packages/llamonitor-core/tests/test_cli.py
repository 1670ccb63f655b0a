"""The ``llamonitor`` command: demo, report and replay, run for real (no pipeline mocks)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from llamonitor.backends.registry import register_backend, unregister_backend
from llamonitor.cli.demo import DemoOptions, run_demo
from llamonitor.cli.main import main
from llamonitor.pricing import get_price_table
from llamonitor.query.summary import summarize_parquet
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.schema.events import AgentIdentity, MetricEvent
from llamonitor.testing import InMemoryBackend
from llamonitor.transport.replay import replay_spill
from llamonitor.transport.spill import SpillStore


def _rows(root: Path) -> list[dict[str, Any]]:
    columns = ["event_id", "session_id", "trace_id", "span_id", "parent_span_id", "operation_name", "error",
               "duration_ms", "model", "agent", "usage", "text_metrics", "cost"]
    rows: list[dict[str, Any]] = ds.dataset(str(root), format="parquet").to_table(columns=columns).to_pylist()
    return rows


def _percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (NumPy's default), by hand."""
    xs = sorted(values)
    rank = q * (len(xs) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def _tokens(row: dict[str, Any], side: str) -> int:
    usage, text = row["usage"] or {}, row["text_metrics"] or {}
    value = usage.get(f"{side}_tokens")
    if value is None:
        value = text.get(f"{side}_tokens")
    return value or 0


def _agent(row: dict[str, Any]) -> str:
    return (row["agent"] or {}).get("agent_name") or "(none)"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "data"
    assert main(["demo", "--sessions", "3", "--dir", str(out), "--quiet", "--seed", "1"]) == 0
    return out


def test_demo_writes_date_partitioned_parquet(demo_dir: Path) -> None:
    files = sorted(demo_dir.glob("*/events_*.parquet"))
    assert files
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", f.parent.name) for f in files)
    rows = _rows(demo_dir)
    assert len({r["session_id"] for r in rows}) == 3
    agents = {_agent(r) for r in rows}
    assert {"orchestrator", "classifier", "knowledge_base", "response_generator"} <= agents
    llm = [r for r in rows if r["model"] is not None]
    assert llm and all(get_price_table().lookup(r["model"]) is not None for r in llm)
    assert all(r["cost"] is not None and r["cost"]["total_cost_usd"] > 0 for r in llm)
    assert all(r["text_metrics"]["measurement_mode"] == "hybrid" for r in llm)


def test_demo_spans_form_one_tree_per_trace(demo_dir: Path) -> None:
    traces: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    ops: dict[str, str] = {}
    for r in _rows(demo_dir):
        traces[(r["session_id"], r["trace_id"])][r["span_id"]] = r["parent_span_id"]
        ops[r["span_id"]] = r["operation_name"]
    assert traces
    for spans in traces.values():
        roots = [s for s, parent in spans.items() if parent is None]
        assert [ops[s] for s in roots] == ["handle_turn"]
        for span, parent in spans.items():
            assert parent is None or parent in spans  # every parent is in the same trace
            seen = {span}
            while parent is not None:  # and walking up reaches the root without a cycle
                assert parent not in seen
                seen.add(parent)
                parent = spans[parent]


def test_report_numbers_match_the_parquet_rows(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(demo_dir)
    capsys.readouterr()
    assert main(["report", "--dir", str(demo_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_events"] == len(rows)
    assert data["errors"] == sum(r["error"] for r in rows)
    assert data["sessions"] == len({r["session_id"] for r in rows})
    assert data["traces"] == len({(r["session_id"], r["trace_id"]) for r in rows})
    assert data["input_tokens"] == sum(_tokens(r, "input") for r in rows)
    assert data["output_tokens"] == sum(_tokens(r, "output") for r in rows)
    assert data["total_cost_usd"] == pytest.approx(sum(r["cost"]["total_cost_usd"] for r in rows if r["cost"]))
    durations = [r["duration_ms"] for r in rows]
    for q, key in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
        assert data["latency"][key] == pytest.approx(_percentile(durations, q))
    assert {g["key"]: g["events"] for g in data["by_agent"]} == dict(Counter(_agent(r) for r in rows))
    agent_errors = {_agent(r): 0 for r in rows}
    for r in rows:
        agent_errors[_agent(r)] += r["error"]
    assert {g["key"]: g["errors"] for g in data["by_agent"]} == agent_errors
    by_model = {g["key"]: g for g in data["by_model"]}
    for model in {r["model"] for r in rows if r["model"]}:
        expected = sum(r["cost"]["total_cost_usd"] for r in rows if r["model"] == model)
        assert by_model[model]["cost_usd"] == pytest.approx(expected)
    assert {g["key"]: g["events"] for g in data["by_operation"]} == dict(Counter(r["operation_name"] for r in rows))


def test_report_tables(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["report", "--dir", str(demo_dir)]) == 0
    out = capsys.readouterr().out
    for text in ("By model", "By agent", "By operation", "classifier", "knowledge_base", "gpt-4o-mini"):
        assert text in out


def test_demo_is_reproducible_and_survives_failures(tmp_path: Path) -> None:
    def run(name: str) -> list[dict[str, Any]]:
        run_demo(DemoOptions(sessions=4, output_dir=str(tmp_path / name), quiet=True, seed=7, error_rate=0.3))
        return _rows(tmp_path / name)

    first, second = run("a"), run("b")
    assert Counter(r["operation_name"] for r in first) == Counter(r["operation_name"] for r in second)
    errors = [r for r in first if r["error"]]
    assert errors and {r["operation_name"] for r in errors} & {"classify_intent", "summarize_articles",
                                                              "generate_response", "stream_response"}
    # The orchestrator caught every injected failure: each turn completed.
    turns = [r for r in first if r["operation_name"] == "handle_turn"]
    assert turns and not any(r["error"] for r in turns)


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_report_without_data_exits_1(tmp_path: Path, make: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "nothing"
    if make == "empty":
        target.mkdir()
    assert main(["report", "--dir", str(target)]) == 1
    assert "No llamonitor data" in capsys.readouterr().err


def _events(prefix: str, n: int) -> list[MetricEvent]:
    start = datetime(2025, 5, 4, 10, 0, tzinfo=timezone.utc)
    return [MetricEvent.at(event_id=f"{prefix}{i}", session_id="s", trace_id="t", span_id=f"{prefix}{i}",
                           operation_name="op", start_time=start, end_time=start + timedelta(milliseconds=5),
                           duration_ms=5.0, agent=AgentIdentity(agent_name="a")) for i in range(n)]


def _spill(spill: Path) -> list[str]:
    store = SpillStore(spill)
    batch, overflow = _events("b", 3), _events("o", 2)
    store.write_batch("postgres", batch)  # a batch spilled by another sink goes to the configured one
    for event in overflow:
        store.append_overflow(event)
    store.close_overflow()
    return [e.event_id for e in batch + overflow]


def _spill_files(spill: Path) -> list[Path]:
    return [p for p in spill.rglob("*") if p.is_file()]


def test_replay_sends_each_event_once_and_deletes_files(tmp_path: Path) -> None:
    spill, out = tmp_path / "spill", tmp_path / "out"
    ids = _spill(spill)
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=str(out)), spill_dir=str(spill))
    report = replay_spill(config)
    assert (report.files_found, report.files_replayed, report.events_replayed, report.ok) == (2, 2, 5, True)
    assert sorted(r["event_id"] for r in _rows(out)) == sorted(ids)
    assert _spill_files(spill) == []
    again = replay_spill(config)
    assert again.files_found == 0 and len(_rows(out)) == 5


def test_replay_cli_with_flags_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    spill, out = tmp_path / "spill", tmp_path / "out"
    ids = _spill(spill)
    assert main(["replay", "--spill-dir", str(spill), "--backend", "parquet", "--dir", str(out)]) == 0
    assert "Replayed 5 events from 2 of 2 files" in capsys.readouterr().out
    assert sorted(r["event_id"] for r in _rows(out)) == sorted(ids)
    assert _spill_files(spill) == []

    env_out = tmp_path / "env_out"
    _spill(spill)
    monkeypatch.setenv("LLMOPS_BACKEND", "parquet")
    monkeypatch.setenv("LLMOPS_OUTPUT_DIR", str(env_out))
    monkeypatch.setenv("LLMOPS_SPILL_DIR", str(spill))
    assert main(["replay", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events_replayed"] == 5
    assert len(_rows(env_out)) == 5 and _spill_files(spill) == []
    assert main(["replay"]) == 0
    assert "Nothing to replay" in capsys.readouterr().out


def test_replay_keeps_files_that_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spill, out = tmp_path / "spill", tmp_path / "out"
    _spill(spill)
    bad = spill / "parquet" / "batch_0_0_0.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"not parquet")
    assert main(["replay", "--spill-dir", str(spill), "--backend", "parquet", "--dir", str(out)]) == 1
    captured = capsys.readouterr()
    assert "Replayed 5 events from 2 of 3 files" in captured.out and "batch_0_0_0.parquet" in captured.err
    # an unreadable file can never be replayed: it is moved aside with its error, out of the next run's way
    moved = spill / "_dead_letter" / "parquet" / "unreadable_batch_0_0_0.parquet"
    assert sorted(_spill_files(spill)) == [moved, moved.with_name(moved.name + ".error.txt")]
    assert "moved to" in captured.err
    assert main(["replay", "--spill-dir", str(spill), "--backend", "parquet", "--dir", str(out)]) == 0
    assert "Nothing to replay" in capsys.readouterr().out
    for path in _spill_files(spill):
        path.unlink()

    down = InMemoryBackend(fail_forever=True)
    register_backend("down", lambda cfg: down)
    try:
        _spill(spill)
        report = replay_spill(MonitorConfig(storage=StorageConfig(backend="down"), spill_dir=str(spill)))
    finally:
        unregister_backend("down")
    assert report.files_replayed == 0 and len(report.failures) == 2 and down.closed
    assert "ConnectionError" in report.failures[0].error
    assert len(_spill_files(spill)) == 2


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llamonitor.cli.main", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    version = _run("--version")
    assert version.returncode == 0 and version.stdout.startswith("llamonitor ")
    helped = _run("--help")
    assert helped.returncode == 0
    assert all(cmd in helped.stdout for cmd in ("demo", "report", "replay", "analyze", "serve", "export"))

    out = tmp_path / "data"
    demo = _run("demo", "--sessions", "2", "--dir", str(out), "--quiet", "--measurement", "capacity")
    assert demo.returncode == 0, demo.stderr
    assert "By agent" in demo.stdout and "response_generator" in demo.stdout
    report = _run("report", "--dir", str(out), "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout) == json.loads(json.dumps(summarize_parquet(out).to_dict()))
