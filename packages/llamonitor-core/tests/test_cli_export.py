"""``llamonitor export``: real storage (Parquet written by the backend, PostgreSQL), no mocks."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from llamonitor.backends.parquet import ParquetBackend
from llamonitor.cli.export import export_events
from llamonitor.cli.main import main
from llamonitor.query.types import EventFilter
from llamonitor.schema.arrow import EVENT_SCHEMA, table_to_events
from llamonitor.schema.columns import COLUMN_NAMES
from llamonitor.schema.config import StorageConfig
from llamonitor.schema.events import MetricEvent, ns_to_datetime
from llamonitor.schema.serialize import event_from_dict
from testkits.storage import drop, edge_events, make_events, ordered, server_config, store, unique_name

N = 120


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in ("LLMOPS_", "LLAMONITOR_"):
        for name in ("BACKEND", "CONNECTION_STRING", "OUTPUT_DIR"):
            monkeypatch.delenv(prefix + name, raising=False)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[MetricEvent]]:
    """Varied events (unicode, nulls, absent / empty nested groups, big attributes) in Parquet."""
    root = tmp_path_factory.mktemp("export") / "data"
    events = make_events(N, seed=3) + edge_events()
    backend = ParquetBackend(StorageConfig(backend="parquet", output_dir=str(root)))
    asyncio.run(backend.initialize())
    backend.write_sync(events[:50])  # several files, several date partitions
    backend.write_sync(events[50:])
    return root, ordered(events)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _jsonl(text: str) -> list[MetricEvent]:
    return [event_from_dict(json.loads(line)) for line in text.splitlines()]


def _csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(10**9)
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_jsonl_file_round_trips_every_field(stored: tuple[Path, list[MetricEvent]], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    root, events = stored
    out = tmp_path / "events.jsonl"
    code, stdout, err = run(capsys, "--dir", str(root), "-o", str(out))
    assert code == 0 and stdout == ""
    assert f"{len(events)} events written to {out} (jsonl)" in err
    lines = out.read_text(encoding="utf-8").splitlines()
    assert _jsonl("\n".join(lines)) == events
    first = json.loads(lines[0])
    assert first["start_time"] == events[0].start_time.isoformat() and first["start_time_ns"] == events[0].start_time_ns
    big = next(json.loads(line) for line in lines if json.loads(line)["event_id"] == "edge-ünïcödé-🚀")
    assert big["custom_attributes"]["deep"] == {"a": {"b": {"c": [1, 2.5, None]}}}
    assert big["usage"] is None and big["input_content"] == "🚀" * 50_000
    empty = next(json.loads(line) for line in lines if json.loads(line)["event_id"] == "edge-empty-groups")
    assert empty["cost"]["currency"] == "USD" and empty["agent"] == {k: None for k in empty["agent"]}
    assert "日本語のプロンプト 🚀" in out.read_text(encoding="utf-8")  # not \u-escaped
    assert not [p for p in tmp_path.iterdir() if p.name != "events.jsonl"]  # no temporary file left


def test_jsonl_to_stdout_is_the_default(stored: tuple[Path, list[MetricEvent]],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    root, events = stored
    code, stdout, err = run(capsys, "--dir", str(root))
    assert code == 0
    assert _jsonl(stdout) == events
    assert err.strip().endswith(f"{len(events)} events written to stdout (jsonl) from parquet {root}")


def test_parquet_round_trips_with_the_event_schema(stored: tuple[Path, list[MetricEvent]], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root, events = stored
    out = tmp_path / "sub" / "events.parquet"  # format from the suffix; folders created
    code, _, err = run(capsys, "--dir", str(root), "-o", str(out))
    assert code == 0 and "(parquet)" in err
    table = pq.read_table(out)
    assert table.schema.equals(EVENT_SCHEMA)
    assert table_to_events(table) == events
    assert [p.name for p in out.parent.iterdir()] == ["events.parquet"]


def test_csv_has_the_flat_columns(stored: tuple[Path, list[MetricEvent]], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    root, events = stored
    out = tmp_path / "events.txt"
    code, _, err = run(capsys, "--dir", str(root), "-o", str(out), "--format", "CSV")
    assert code == 0 and "(csv)" in err
    with open(out, encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == [*COLUMN_NAMES, "start_time", "end_time"]
    rows = _csv(out)
    assert len(rows) == len(events)
    for row, e in zip(rows, events, strict=True):
        assert row["event_id"] == e.event_id and row["session_id"] == e.session_id
        assert row["trace_id"] == e.trace_id and row["operation_name"] == e.operation_name
        assert row["model"] == (e.model or "") and row["error"] == str(e.error)
        assert int(row["start_time_ns"]) == e.start_time_ns and float(row["duration_ms"]) == e.duration_ms
        assert row["start_time"] == e.start_time.isoformat() and row["end_time"] == e.end_time.isoformat()
        assert json.loads(row["custom_attributes"]) == e.custom_attributes
        tokens = e.usage.input_tokens if e.usage is not None else None
        assert row["usage_input_tokens"] == ("" if tokens is None else str(tokens))
        assert row["agent_name"] == (e.agent.agent_name or "" if e.agent is not None else "")
        assert row["input_content"] == (e.input_content or "")


def _ids(stdout: str) -> list[str]:
    return [json.loads(line)["event_id"] for line in stdout.splitlines()]


@pytest.mark.parametrize(("option", "value", "keep"), [
    ("--session", "session-2", lambda e: e.session_id == "session-2"),
    ("--trace", "trace-4", lambda e: e.trace_id == "trace-4"),
    ("--operation", "summarise ✓", lambda e: e.operation_name == "summarise ✓"),
    ("--model", "gpt-4o-mini", lambda e: e.model == "gpt-4o-mini"),
    ("--agent", "writer — ü", lambda e: e.agent is not None and e.agent.agent_name == "writer — ü"),
])
def test_filters_select_exactly(stored: tuple[Path, list[MetricEvent]], capsys: pytest.CaptureFixture[str],
                                option: str, value: str, keep: Any) -> None:
    root, events = stored
    expected = [e.event_id for e in events if keep(e)]
    code, stdout, _ = run(capsys, "--dir", str(root), option, value)
    assert code == 0 and expected and _ids(stdout) == expected


def test_errors_only_and_time_window(stored: tuple[Path, list[MetricEvent]],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    root, events = stored
    code, stdout, _ = run(capsys, "--dir", str(root), "--errors-only")
    errors = [e.event_id for e in events if e.error]
    assert code == 0 and errors and _ids(stdout) == errors

    since, until = events[20].start_time_ns, events[100].start_time_ns
    window = [e.event_id for e in events if since // 1000 * 1000 <= e.start_time_ns < until // 1000 * 1000]
    lo = ns_to_datetime(since).replace(tzinfo=None).isoformat()  # naive = UTC
    hi = ns_to_datetime(until).isoformat().replace("+00:00", "Z")
    code, stdout, _ = run(capsys, "--dir", str(root), "--since", lo, "--until", hi)
    assert code == 0 and window and _ids(stdout) == window

    shifted = (ns_to_datetime(since) + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    code, stdout, _ = run(capsys, "--dir", str(root), "--since", shifted, "--until", hi, "--errors-only",
                          "--limit", "3")
    assert code == 0 and _ids(stdout) == [e for e in window if e in errors][:3]


def test_limit_and_small_pages(stored: tuple[Path, list[MetricEvent]], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    root, events = stored
    code, stdout, err = run(capsys, "--dir", str(root), "--limit", "17")
    assert code == 0 and _ids(stdout) == [e.event_id for e in events[:17]] and "17 events written" in err
    storage = StorageConfig(backend="parquet", output_dir=str(root))
    for fmt, limit in (("jsonl", None), ("parquet", None), ("csv", 23)):
        out = tmp_path / f"paged.{fmt}"
        result = asyncio.run(export_events(storage, str(out), page_size=7, limit=limit))
        want = events if limit is None else events[:limit]
        assert result.events == len(want) and result.format == fmt
        if fmt == "jsonl":
            assert _jsonl(out.read_text(encoding="utf-8")) == want
        elif fmt == "parquet":
            assert table_to_events(pq.read_table(out)) == want
            assert pq.ParquetFile(out).metadata.num_row_groups == -(-len(want) // 7)
        else:
            assert [r["event_id"] for r in _csv(out)] == [e.event_id for e in want]
    filtered = asyncio.run(export_events(storage, str(tmp_path / "s.jsonl"), page_size=2,
                                         filter=EventFilter(session_id="session-1")))
    assert _jsonl((tmp_path / "s.jsonl").read_text(encoding="utf-8")) == [
        e for e in events if e.session_id == "session-1"] and filtered.events > 2


def test_storage_from_the_environment(stored: tuple[Path, list[MetricEvent]], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root, events = stored
    monkeypatch.setenv("LLMOPS_OUTPUT_DIR", str(root))
    code, stdout, _ = run(capsys, "--limit", "5")
    assert code == 0 and _ids(stdout) == [e.event_id for e in events[:5]]
    code, stdout, err = run(capsys, "--dir", str(tmp_path / "empty"))  # the flag wins over the env
    assert code == 0 and stdout == "" and "0 events written to stdout" in err


def test_no_data_writes_zero_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"none.{fmt}"
        code, _, err = run(capsys, "--dir", str(tmp_path / "missing"), "-o", str(out))
        assert code == 0 and f"0 events written to {out} ({fmt})" in err
        if fmt == "jsonl":
            assert out.read_text(encoding="utf-8") == ""
        elif fmt == "csv":
            assert _csv(out) == []
        else:
            assert pq.read_table(out).num_rows == 0


@pytest.mark.parametrize(("args", "named"), [
    (["--format", "xml"], "--format"),
    (["--format", "parquet"], "--format parquet"),
    (["-o", "-", "--format", "parquet"], "--format parquet"),
    (["--since", "yesterday"], "--since"),
    (["--until", "2026-13-01"], "--until"),
    (["--since", "2026-02-01", "--until", "2026-01-01"], "--since"),
    (["--limit", "0"], "--limit"),
    (["--limit", "ten"], "--limit"),
    (["--backend", "nosuch"], "storage.backend"),
])
def test_bad_options_exit_2_naming_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              args: list[str], named: str) -> None:
    code, stdout, err = run(capsys, "--dir", str(tmp_path / "data"), *args)
    assert code == 2 and stdout == ""
    assert named in err


def test_connection_strings_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    dsn = "postgresql://alice:s3cr3t-pw@127.0.0.1:1/nowhere"
    code, _, err = run(capsys, "--backend", "postgres", "--connection-string", dsn, "-o", str(tmp_path / "x.jsonl"))
    assert code == 1 and "s3cr3t-pw" not in err and "alice:***@127.0.0.1:1" in err
    assert not list(tmp_path.iterdir())  # nothing left behind
    monkeypatch.setenv("LLMOPS_BATCH_SIZE", "20000")  # an invalid configuration that holds the DSN
    code, _, err = run(capsys, "--backend", "postgres", "--connection-string", dsn)
    assert code == 2 and "invalid storage configuration" in err and "max_batch_size" in err
    assert "s3cr3t-pw" not in err


@pytest.fixture
def pg_storage() -> Iterator[StorageConfig]:
    config = server_config("postgres", unique_name())
    try:
        yield config
    finally:
        asyncio.run(drop(config))


def test_postgres_export_round_trips(pg_storage: StorageConfig, tmp_path: Path) -> None:
    events = make_events(40, seed=11) + edge_events()

    asyncio.run(store(pg_storage, events))
    want = ordered(events)
    result = asyncio.run(export_events(pg_storage, str(tmp_path / "pg.jsonl"), page_size=9))
    assert result.events == len(want)
    assert _jsonl((tmp_path / "pg.jsonl").read_text(encoding="utf-8")) == want
    asyncio.run(export_events(pg_storage, str(tmp_path / "pg.parquet"),
                              filter=EventFilter(errors_only=True), page_size=2))
    assert table_to_events(pq.read_table(tmp_path / "pg.parquet")) == [e for e in want if e.error]
