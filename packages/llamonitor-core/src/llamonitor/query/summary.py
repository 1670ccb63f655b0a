"""Summary of a Parquet event dataset: totals, latency percentiles, tokens, cost, group-bys.

Reads only the columns it needs (ids, duration, error flag, model, operation name, agent name,
token and cost fields, start / end as integer nanoseconds): captured prompt / response content
is never loaded.

How (with NumPy; a pure :mod:`pyarrow.compute` path remains for installs without it): the
numeric columns are converted to NumPy arrays once per table; each group key (model, agent,
operation) is dictionary-encoded into small integer codes; every sum of the three group-bys
comes from one ``bincount`` per quantity over the combined (model, agent, operation) cells;
each key's percentiles from one stable (radix) sort of its codes and a selection
(``numpy.percentile``) inside each group's run. About 150 ms for a million events on 2 vCPUs.
Threads were measured and not used: with two cores already busy they made it slower.

Definitions:

- **latency percentiles** are exact with linear interpolation between the two closest ranks
  (NumPy's default ``linear`` method; ``pyarrow.compute.quantile`` gives the same), over
  ``duration_ms``;
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

from llamonitor.schema.arrow import EVENT_SCHEMA
from llamonitor.schema.events import ns_to_datetime
from llamonitor.schema.projection import NONE_LABEL, summary_projection

#: Percentiles reported overall (fractions).
QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)


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


def read_summary_columns(files: list[Path]) -> pa.Table:
    """The columns a summary needs, from ``files`` (read with the fixed event schema)."""
    dataset = ds.dataset([str(f) for f in files], format="parquet", schema=EVENT_SCHEMA)
    return dataset.to_table(columns=summary_projection())


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


# -- without NumPy: pure Arrow ---------------------------------------------------------------------
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


def _arrow_group_stats(prepared: pa.Table, key: str) -> list[GroupStats]:
    agg = prepared.group_by(key).aggregate([
        ("duration_ms", "count"), ("error", "sum"), ("tokens_in", "sum"), ("tokens_out", "sum"),
        ("cost", "sum"), ("cost", "count"), ("duration_ms", "mean"), ("duration_ms", "max"),
    ]).to_pylist()
    percentiles = _arrow_group_percentiles(prepared[key], prepared["duration_ms"])
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
    return groups


def _arrow_summary(table: pa.Table, path: str, files: int) -> Summary:
    n = table.num_rows
    errors = _int(pc.sum(pc.cast(pc.fill_null(table["error"], False), pa.int64())))
    prepared = _prepare(table)
    tin = _int(pc.sum(prepared["tokens_in"]))
    tout = _int(pc.sum(prepared["tokens_out"]))
    traces = table.select(["session_id", "trace_id"]).group_by(["session_id", "trace_id"]).aggregate([]).num_rows
    return Summary(
        path=path, files=files, total_events=n, errors=errors, error_rate=errors / n,
        sessions=_int(pc.count_distinct(table["session_id"])), traces=traces,
        latency=_latency(table["duration_ms"]),
        input_tokens=tin, output_tokens=tout, total_tokens=tin + tout,
        total_cost_usd=_float(pc.sum(table["cost"])) or 0.0,
        priced_events=_int(pc.count(table["cost"])),
        first_event=ns_to_datetime(_int(pc.min(table["start_ns"]))),
        last_event=ns_to_datetime(_int(pc.max(table["end_ns"]))),
        by_model=sorted(_arrow_group_stats(prepared, "model"), key=lambda g: (-g.events, g.key)),
        by_agent=sorted(_arrow_group_stats(prepared, "agent"), key=lambda g: (-g.events, g.key)),
        by_operation=sorted(_arrow_group_stats(prepared, "operation"), key=lambda g: (-g.events, g.key)),
    )


# -- with NumPy ------------------------------------------------------------------------------------
#: the source columns of each group key (``None`` values are labelled :data:`NONE_LABEL`)
_KEY_COLUMNS = {"model": "model", "agent": "agent_name", "operation": "operation_name"}


class _Numbers:
    """The per-event numbers every statistic needs, as NumPy arrays, converted once per table.

    ``rows`` are, per event: duration (0 when missing), error (0/1), input tokens, output
    tokens, cost (0 when unpriced), priced (0/1), has a duration (0/1); ``durations`` keeps NaN
    for a missing duration. Token counts are integers below 2**53: their float64 sums are exact.
    """

    def __init__(self, table: pa.Table) -> None:
        import numpy as np

        def floats(column: pa.ChunkedArray | pa.Array, fill: float | bool) -> Any:
            if column.null_count:
                column = pc.fill_null(column, fill)
            return np.asarray(column.to_numpy(), dtype=np.float64)

        self.durations = floats(table["duration_ms"], float("nan"))
        missing = np.isnan(self.durations)
        self.missing = bool(missing.any())
        cost = table["cost"]
        self.rows: list[Any] = [
            np.where(missing, 0.0, self.durations) if self.missing else self.durations,
            floats(table["error"], False),
            floats(pc.coalesce(table["usage_in"], table["text_in"]), 0.0),
            floats(pc.coalesce(table["usage_out"], table["text_out"]), 0.0),
            floats(cost, 0.0),
            floats(cost.is_valid(), False),
            (~missing).astype(np.float64),
        ]
        self.totals = [float(row.sum()) for row in self.rows]


def _codes(column: pa.ChunkedArray) -> tuple[list[str], Any]:
    """Distinct labels of ``column`` (nulls as :data:`NONE_LABEL`) and each row's label index."""
    import numpy as np

    encoded = pc.dictionary_encode(column, null_encoding="encode")
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    chunks = [c for c in chunks if len(c)]
    if not chunks:
        return [], np.zeros(0, dtype=np.int64)
    dictionary = chunks[-1].dictionary
    if any(c.dictionary is not dictionary and not c.dictionary.equals(dictionary) for c in chunks[:-1]):
        # not one shared dictionary across chunks: encode the concatenation instead
        return _codes(pa.chunked_array([pa.concat_arrays([c.dictionary.take(c.indices) for c in chunks])]))
    codes = np.concatenate([np.asarray(c.indices.to_numpy(zero_copy_only=False)) for c in chunks])
    labels = [NONE_LABEL if v is None else v for v in dictionary.to_pylist()]
    if len(set(labels)) == len(labels):
        return labels, codes
    # a null and a real "(none)" are one group
    names = sorted(set(labels))
    position = {name: i for i, name in enumerate(names)}
    return names, np.asarray([position[v] for v in labels], dtype=np.int64)[codes]


def _percentiles(durations: Any) -> list[float]:
    """p50, p95, p99 and max of a non-empty array without NaN (NumPy's linear interpolation)."""
    import numpy as np

    return [float(v) for v in np.percentile(durations, [*(q * 100 for q in QUANTILES), 100.0])]


#: at most this many (key1, key2, ...) cells are summed at once (else one key at a time)
_MAX_CELLS = 1 << 20


def _cell_sums(numbers: _Numbers, codes: list[Any], sizes: list[int]) -> Any:
    """The sums of ``numbers.rows`` per combination of the keys' codes, shape ``(7, *sizes)``."""
    import numpy as np

    cells = codes[0].astype(np.int64)
    for c, k in zip(codes[1:], sizes[1:], strict=True):
        cells *= k
        cells += c
    total = int(np.prod(sizes))
    sums = np.stack([np.bincount(cells, weights=row, minlength=total) for row in numbers.rows])
    return sums.reshape((len(numbers.rows), *sizes))


def _numpy_groups(numbers: _Numbers, keys: list[tuple[list[str], Any]]) -> list[list[GroupStats]]:
    # The sums of every key come from one bincount per quantity over the combined key cells;
    # each key's percentiles from one stable sort of its small integer codes (a radix sort when
    # they fit 16 bits), then a selection (numpy.percentile) inside each group's run.
    import numpy as np

    sizes = [max(len(names), 1) for names, _ in keys]
    if int(np.prod(sizes)) <= _MAX_CELLS:
        cells = _cell_sums(numbers, [codes for _, codes in keys], sizes)
        axes = list(range(1, len(keys) + 1))
        sums = [cells.sum(axis=tuple(a for a in axes if a != i + 1)) for i in range(len(keys))]
    else:
        sums = [_cell_sums(numbers, [codes], [size]) for (_, codes), size in zip(keys, sizes, strict=True)]
    out: list[list[GroupStats]] = []
    for (names, codes), totals in zip(keys, sums, strict=True):
        k = len(names)
        order = np.argsort(codes.astype(np.int16) if k < 32_768 else codes, kind="stable")
        durations = numbers.durations[order]
        counts = np.bincount(codes, minlength=k)
        groups: list[GroupStats] = []
        begin = 0
        for g in range(k):
            n = int(counts[g])
            if not n:
                continue
            has = int(totals[6, g])
            part = durations[begin:begin + n]
            begin += n
            if has:
                p50, p95, p99, top = _percentiles(part if has == n else part[~np.isnan(part)])
                latency = LatencyStats(p50_ms=p50, p95_ms=p95, p99_ms=p99, mean_ms=float(totals[0, g]) / has,
                                       max_ms=top)
            else:
                latency = LatencyStats()
            e, ti, to = int(totals[1, g]), int(totals[2, g]), int(totals[3, g])
            groups.append(GroupStats(
                key=names[g], events=n, errors=e, error_rate=e / n, input_tokens=ti, output_tokens=to,
                total_tokens=ti + to, cost_usd=float(totals[4, g]) if totals[5, g] else None, latency=latency))
        groups.sort(key=lambda s: (-s.events, s.key))
        out.append(groups)
    return out


#: labels and row codes of a key column (see :func:`_codes`)
Codes = tuple[list[str], Any]
#: one file's labels (an Arrow string array, nulls as :data:`NONE_LABEL`) and row codes
FileCodes = tuple[pa.Array, Any]


def file_codes(column: pa.ChunkedArray | pa.Array) -> FileCodes:
    """A key column's distinct labels (nulls as :data:`NONE_LABEL`) and each row's label index."""
    import numpy as np

    encoded = pc.dictionary_encode(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column,
                                   null_encoding="encode")
    labels = pc.fill_null(encoded.dictionary, NONE_LABEL)
    return labels, np.asarray(encoded.indices.to_numpy(zero_copy_only=False))


def merge_codes(parts: list[FileCodes]) -> Codes:
    """One set of labels and codes for rows made of ``parts`` (each with its own labels), in order.

    Vectorised: the parts' labels are encoded together once, and every row's code is looked up
    through its part's offset in that encoding (a null and a literal "(none)" are one label).
    """
    import numpy as np

    if not parts:
        return [], np.zeros(0, dtype=np.int64)
    encoded = pc.dictionary_encode(pa.concat_arrays([labels for labels, _ in parts]))
    global_ids = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    sizes = np.fromiter((len(labels) for labels, _ in parts), dtype=np.int64, count=len(parts))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rows = [codes for _, codes in parts]
    local = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts, [len(r) for r in rows])
    return encoded.dictionary.to_pylist(), global_ids[local + offsets]


def _distinct_pairs(first: pa.ChunkedArray, second: pa.ChunkedArray,
                    codes: dict[str, Codes] | None = None) -> tuple[int, int]:
    """(distinct values of ``first``, distinct ``(first, second)`` pairs)."""
    import numpy as np

    a_names, a = codes["session_id"] if codes else _codes(first)
    b_names, b = codes["trace_id"] if codes else _codes(second)
    if not len(a):
        return 0, 0
    pairs = a.astype(np.int64) * max(len(b_names), 1) + b
    return len(a_names), _int(pc.count_distinct(pa.array(pairs)))


def _numpy_summary(table: pa.Table, path: str, files: int, codes: dict[str, Codes] | None = None) -> Summary:
    import numpy as np

    n = table.num_rows
    numbers = _Numbers(table)
    totals = numbers.totals
    has = int(totals[6])
    if has:
        durations = numbers.durations
        p50, p95, p99, top = _percentiles(durations if has == n else durations[~np.isnan(durations)])
        latency = LatencyStats(p50_ms=p50, p95_ms=p95, p99_ms=p99, mean_ms=totals[0] / has, max_ms=top)
    else:
        latency = LatencyStats()
    sessions, traces = _distinct_pairs(table["session_id"], table["trace_id"], codes)
    errors, tin, tout = int(totals[1]), int(totals[2]), int(totals[3])
    by_model, by_agent, by_operation = _numpy_groups(numbers, [
        codes[_KEY_COLUMNS[key]] if codes else _codes(table[_KEY_COLUMNS[key]])
        for key in ("model", "agent", "operation")])
    return Summary(
        path=path, files=files, total_events=n, errors=errors, error_rate=errors / n, sessions=sessions,
        traces=traces, latency=latency, input_tokens=tin, output_tokens=tout, total_tokens=tin + tout,
        total_cost_usd=_float(pc.sum(table["cost"])) or 0.0, priced_events=int(totals[5]),
        first_event=ns_to_datetime(_int(pc.min(table["start_ns"]))),
        last_event=ns_to_datetime(_int(pc.max(table["end_ns"]))),
        by_model=by_model, by_agent=by_agent, by_operation=by_operation,
    )


def _has_numpy() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow >= 16 does not require numpy
        return False
    return True


def group_stats(table: pa.Table, key: str) -> list[GroupStats]:
    """Aggregates per distinct value of ``key`` (model, agent or operation), most events first
    (ties by key), over a table holding the columns of :func:`read_summary_columns`."""
    if table.num_rows == 0:
        return []
    if not _has_numpy():  # pragma: no cover
        return sorted(_arrow_group_stats(_prepare(table), key), key=lambda g: (-g.events, g.key))
    return _numpy_groups(_Numbers(table), [_codes(table[_KEY_COLUMNS[key]])])[0]


#: the key columns whose codes :func:`summarize_table` can be given
CODE_COLUMNS = ("session_id", "trace_id", "model", "agent_name", "operation_name")


def summarize_table(table: pa.Table, *, path: str = "", files: int = 0,
                    codes: dict[str, Codes] | None = None) -> Summary:
    """Summarise a table holding the columns of :func:`read_summary_columns`.

    ``codes`` (optional, with NumPy): :func:`column_codes` of every :data:`CODE_COLUMNS` column,
    aligned with the table's rows -- a caller that keeps them per file saves their encoding.
    """
    if table.num_rows == 0:
        return Summary(path=path, files=files, total_events=0, errors=0, error_rate=0.0, sessions=0, traces=0,
                       latency=LatencyStats(), input_tokens=0, output_tokens=0, total_tokens=0,
                       total_cost_usd=0.0, priced_events=0, first_event=None, last_event=None)
    if not _has_numpy():  # pragma: no cover
        return _arrow_summary(table, path, files)
    return _numpy_summary(table, path, files, codes)


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
