"""Summary of a Parquet event dataset: totals, latency percentiles, tokens, cost, group-bys.

Reads only the columns it needs (ids, duration, error flag, model, operation name, agent name,
token and cost fields): captured prompt / response content is never loaded. Everything is
computed with :mod:`pyarrow.compute`.

Definitions:

- **latency percentiles** are exact: ``pyarrow.compute.quantile`` with linear interpolation
  between the two closest ranks (NumPy's default ``linear`` method), over ``duration_ms``;
- **traces** counts distinct ``(session_id, trace_id)`` pairs (user-given trace ids such as
  ``"conversation-1"`` may repeat across sessions);
- **tokens** per event are the provider-reported ``usage.*`` counts when present, else the
  measured ``text_metrics.*`` counts; ``total_tokens`` is input + output;
- **cost** sums ``cost.total_cost_usd`` over the events that were priced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from llamonitor.backends.arrow import EVENT_SCHEMA

#: Percentiles reported overall (fractions).
QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)
#: Label of the group holding events without a model / agent.
NONE_LABEL = "(none)"
_US = pa.timestamp("us", tz="UTC")


class NoDataError(FileNotFoundError):
    """The path does not exist or holds no event Parquet files."""


@dataclass(frozen=True)
class LatencyStats:
    """Latency over a set of events, in milliseconds (``None`` when there are no events)."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None


@dataclass(frozen=True)
class GroupStats:
    """Aggregates of the events sharing one key (a model, an agent or an operation)."""

    key: str
    events: int
    errors: int
    error_rate: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    #: ``None`` when no event of the group was priced
    cost_usd: float | None
    latency: LatencyStats


@dataclass(frozen=True)
class Summary:
    """Everything ``llamonitor report`` prints."""

    path: str
    files: int
    total_events: int
    errors: int
    error_rate: float
    sessions: int
    traces: int
    latency: LatencyStats
    input_tokens: int
    output_tokens: int
    total_tokens: int
    #: sum of ``cost.total_cost_usd`` (0.0 when nothing was priced)
    total_cost_usd: float
    priced_events: int
    first_event: datetime | None
    last_event: datetime | None
    by_model: list[GroupStats] = field(default_factory=list)
    by_agent: list[GroupStats] = field(default_factory=list)
    by_operation: list[GroupStats] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO-8601 strings)."""
        out = asdict(self)
        for name in ("first_event", "last_event"):
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out


def event_files(path: str | Path) -> list[Path]:
    """Event Parquet files under ``path``, recursively, sorted.

    Files and folders whose name starts with ``.`` or ``_`` are skipped (temporary files of
    an in-progress write, spill folders), as ``pyarrow.dataset`` does by default.
    """
    root = Path(path)
    if root.is_file():
        return [root] if root.suffix == ".parquet" else []
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.parquet")
                  if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts))


def _projection() -> dict[str, pc.Expression]:
    return {
        "session_id": pc.field("session_id"),
        "trace_id": pc.field("trace_id"),
        "duration_ms": pc.field("duration_ms"),
        "error": pc.field("error"),
        # microseconds: plain datetimes whatever unit the files use (ns since schema 1)
        "start_time": pc.field("start_time").cast(_US, safe=False),
        "end_time": pc.field("end_time").cast(_US, safe=False),
        "operation_name": pc.field("operation_name"),
        "model": pc.field("model"),
        "agent_name": pc.field("agent", "agent_name"),
        "usage_in": pc.field("usage", "input_tokens"),
        "usage_out": pc.field("usage", "output_tokens"),
        "text_in": pc.field("text_metrics", "input_tokens"),
        "text_out": pc.field("text_metrics", "output_tokens"),
        "cost": pc.field("cost", "total_cost_usd"),
    }


def read_summary_columns(files: list[Path]) -> pa.Table:
    """The columns a summary needs, from ``files`` (read with the fixed event schema)."""
    dataset = ds.dataset([str(f) for f in files], format="parquet", schema=EVENT_SCHEMA)
    return dataset.to_table(columns=_projection())


def _int(value: pa.Scalar) -> int:
    py = value.as_py()
    return int(py) if py is not None else 0


def _float(value: pa.Scalar) -> float | None:
    py = value.as_py()
    return float(py) if py is not None else None


def _latency(durations: pa.Array | pa.ChunkedArray) -> LatencyStats:
    if len(durations) - durations.null_count == 0:
        return LatencyStats()
    qs = pc.quantile(durations, q=list(QUANTILES), interpolation="linear").to_pylist()
    return LatencyStats(p50_ms=qs[0], p95_ms=qs[1], p99_ms=qs[2], mean_ms=_float(pc.mean(durations)),
                        max_ms=_float(pc.max(durations)))


def _prepare(table: pa.Table) -> pa.Table:
    """Per-event derived columns: group keys with ``(none)``, tokens, error as 0/1."""
    tokens_in = pc.coalesce(table["usage_in"], table["text_in"])
    tokens_out = pc.coalesce(table["usage_out"], table["text_out"])
    return pa.table({
        "model": pc.fill_null(table["model"], NONE_LABEL),
        "agent": pc.fill_null(table["agent_name"], NONE_LABEL),
        "operation": table["operation_name"],
        "duration_ms": table["duration_ms"],
        "error": pc.cast(pc.fill_null(table["error"], False), pa.int64()),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": table["cost"],
    })


def _arrow_group_percentiles(keys: pa.ChunkedArray, durations: pa.ChunkedArray) -> dict[str, list[float | None]]:
    # Sort once by (key, duration), then take quantiles of each run of equal keys (zero-copy slices).
    ordered = pa.table({"k": keys, "d": durations}).sort_by([("k", "ascending"), ("d", "ascending")])
    runs = pc.run_end_encode(ordered["k"].combine_chunks())
    values = ordered["d"].combine_chunks()
    out: dict[str, list[float | None]] = {}
    start = 0
    for value, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        part = values.slice(start, end - start)
        if len(part) - part.null_count:
            out[value] = pc.quantile(part, q=list(QUANTILES), interpolation="linear").to_pylist()
        else:
            out[value] = [None] * len(QUANTILES)
        start = end
    return out


def group_percentiles(keys: pa.ChunkedArray, durations: pa.ChunkedArray) -> dict[str, list[float | None]]:
    """Exact (linear) p50 / p95 / p99 of ``durations`` per distinct value of ``keys`` (no nulls).

    With NumPy: dictionary-encode the keys, one stable integer argsort to bring each group
    together, then ``numpy.percentile`` (a linear-time selection) per group -- about 20x faster
    than sorting by (string key, duration) at a million rows. Without NumPy: pure Arrow.
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - pyarrow >= 16 does not require numpy
        return _arrow_group_percentiles(keys, durations)
    if len(keys) == 0:
        return {}
    encoded = keys.combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    values = durations.combine_chunks().to_numpy(zero_copy_only=False).astype("float64", copy=False)
    order = np.argsort(codes, kind="stable")
    codes, values = codes[order], values[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    names = encoded.dictionary.to_pylist()
    qs = [q * 100 for q in QUANTILES]
    out: dict[str, list[float | None]] = {}
    for begin, end in zip([0, *bounds.tolist()], [*bounds.tolist(), len(codes)], strict=True):
        part = values[begin:end]
        part = part[~np.isnan(part)]
        out[names[int(codes[begin])]] = ([float(v) for v in np.percentile(part, qs)] if len(part)
                                         else [None] * len(QUANTILES))
    return out


def group_stats(prepared: pa.Table, key: str) -> list[GroupStats]:
    """Aggregates per distinct value of ``key``, most events first (ties by key)."""
    if prepared.num_rows == 0:
        return []
    agg = prepared.group_by(key).aggregate([
        ("duration_ms", "count"), ("error", "sum"), ("tokens_in", "sum"), ("tokens_out", "sum"),
        ("cost", "sum"), ("cost", "count"), ("duration_ms", "mean"), ("duration_ms", "max"),
    ]).to_pylist()
    percentiles = group_percentiles(prepared[key], prepared["duration_ms"])
    groups: list[GroupStats] = []
    for row in agg:
        name = row[key]
        events = int(row["duration_ms_count"] or 0)
        errors = int(row["error_sum"] or 0)
        tin, tout = int(row["tokens_in_sum"] or 0), int(row["tokens_out_sum"] or 0)
        p50, p95, p99 = percentiles.get(name, [None, None, None])
        latency = LatencyStats(p50_ms=p50, p95_ms=p95, p99_ms=p99, mean_ms=row["duration_ms_mean"],
                               max_ms=row["duration_ms_max"])
        groups.append(GroupStats(
            key=name, events=events, errors=errors, error_rate=errors / events if events else 0.0,
            input_tokens=tin, output_tokens=tout, total_tokens=tin + tout,
            cost_usd=float(row["cost_sum"]) if row["cost_count"] else None, latency=latency))
    groups.sort(key=lambda g: (-g.events, g.key))
    return groups


def summarize_table(table: pa.Table, *, path: str = "", files: int = 0) -> Summary:
    """Summarise a table holding the columns of :func:`read_summary_columns`."""
    n = table.num_rows
    errors = _int(pc.sum(pc.cast(pc.fill_null(table["error"], False), pa.int64())))
    prepared = _prepare(table)
    tin = _int(pc.sum(prepared["tokens_in"]))
    tout = _int(pc.sum(prepared["tokens_out"]))
    traces = 0
    if n:
        traces = table.select(["session_id", "trace_id"]).group_by(["session_id", "trace_id"]).aggregate([]).num_rows
    return Summary(
        path=path, files=files, total_events=n, errors=errors, error_rate=errors / n if n else 0.0,
        sessions=_int(pc.count_distinct(table["session_id"])), traces=traces,
        latency=_latency(table["duration_ms"]),
        input_tokens=tin, output_tokens=tout, total_tokens=tin + tout,
        total_cost_usd=_float(pc.sum(table["cost"])) or 0.0,
        priced_events=_int(pc.count(table["cost"])),
        first_event=pc.min(table["start_time"]).as_py() if n else None,
        last_event=pc.max(table["end_time"]).as_py() if n else None,
        by_model=group_stats(prepared, "model"),
        by_agent=group_stats(prepared, "agent"),
        by_operation=group_stats(prepared, "operation"),
    )


def summarize_parquet(path: str | Path) -> Summary:
    """Summarise every event Parquet file under ``path`` (a folder, searched recursively, or a file).

    Raises :class:`NoDataError` when ``path`` does not exist or holds no ``*.parquet`` file. A
    dataset whose files hold no rows gives a summary with ``total_events == 0``.
    """
    files = event_files(path)
    if not files:
        what = "does not exist" if not Path(path).exists() else "holds no event Parquet files"
        raise NoDataError(f"{str(path)!r} {what}")
    return summarize_table(read_summary_columns(files), path=str(path), files=len(files))
