"""Parquet rollups: each file's footer carries its own per-day aggregates, so summaries need not decode it.

The Parquet twin of :mod:`llamonitor.backends.pg_rollups`. When the backend writes a file it
also stores, in the footer's key-value metadata (``llamonitor.rollup``, JSON), one row per UTC
day, operation, model and agent of the file's events: events, errors, tokens, cost sums and
counts, duration sum / min / max, first start and last end, and the sparse latency histogram
(the same logarithmic bins as PostgreSQL's, ratio :data:`~llamonitor.backends.pg_rollups.GAMMA`).
A file's rows are a few dozen; reading them is reading the footer, which the query layer does
anyway. A summary over a million events then merges footers instead of decoding columns
(:mod:`llamonitor.query.parquet_rollups` says when they are used).

The rollup lives in the very file it describes, so it is written atomically with it and can
never disagree with its rows. A file without one (written before this, or whose durations are
not all finite numbers) is aggregated from its rows by the query layer instead.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from llamonitor.backends.pg_rollups import GAMMA, NS_PER_DAY, SPECIAL_BIN
from llamonitor.schema.arrow import WRITER_POOL
from llamonitor.schema.projection import NONE_LABEL, summary_projection

#: footer key of a file's rollup
ROLLUP_KEY = b"llamonitor.rollup"
#: layout version (a footer with another version is ignored: the file is aggregated from its rows)
ROLLUP_VERSION = 1
#: the sums of a rollup row, in order (what :class:`llamonitor.query.rollups._Acc` adds up)
SUMS = ("events", "errors", "tin", "tout", "cin", "cin_n", "cout", "cout_n", "cost", "cost_n", "dsum", "dmin",
        "dmax", "first_ns", "last_ns")

#: a rollup row: day, operation, model, agent, the :data:`SUMS`, then the histogram ``[[bins], [counts]]``
Row = list[Any]


def projection() -> dict[str, pc.Expression]:
    """The columns a rollup is computed from: the summary's (without the ids) and the cost parts."""
    columns = {k: v for k, v in summary_projection().items() if k not in ("session_id", "trace_id")}
    return columns | {"cost_in": pc.field("cost", "input_cost_usd"), "cost_out": pc.field("cost", "output_cost_usd")}


def _floor_day(start_ns: Any) -> Any:
    """UTC day numbers, flooring (Arrow's integer division truncates toward zero)."""
    q = pc.divide(start_ns, NS_PER_DAY)
    behind = pc.and_(pc.less(start_ns, 0), pc.not_equal(pc.multiply(q, NS_PER_DAY), start_ns))
    return pc.subtract(q, pc.cast(behind, pa.int64()))


def _bins(durations: Any) -> Any:
    """Latency bins, as :func:`llamonitor.query.rollups.bin_of` computes them."""
    valid = pc.and_(pc.greater(durations, 0.0), pc.less(durations, math.inf))
    raw = pc.floor(pc.divide(pc.ln(pc.if_else(valid, durations, 1.0)), math.log(GAMMA)))
    return pc.if_else(valid, pc.cast(raw, pa.int64()), SPECIAL_BIN)


def _codes(column: Any) -> tuple[Any, list[Any]]:
    """Small integer codes of a key column and the value of each code."""
    encoded = pc.dictionary_encode(column).combine_chunks() if isinstance(column, pa.ChunkedArray) \
        else pc.dictionary_encode(column)
    return pc.cast(encoded.indices, pa.int64()), encoded.dictionary.to_pylist()


def rollup_rows(table: pa.Table) -> list[Row] | None:
    """The rollup rows of a :func:`projection` table; ``None`` if a duration is not a finite number.

    Missing or non-finite durations are left to the exact path (which skips them in means and
    percentiles): the rollup of such a file is not written. The four keys are folded into one
    integer per event first, so both group-bys hash integers, not strings.
    """
    if table.num_rows == 0:
        return []
    durations = table["duration_ms"]
    if durations.null_count or not pc.all(pc.is_finite(durations)).as_py():
        return None
    labels: list[list[Any]] = []
    cell = None
    for column in (_floor_day(table["start_ns"]), table["operation_name"], pc.fill_null(table["model"], NONE_LABEL),
                   pc.fill_null(table["agent_name"], NONE_LABEL)):
        codes, values = _codes(column)
        cell = codes if cell is None else pc.add(pc.multiply(cell, len(values)), codes)
        labels.append(values)
    sizes = [len(v) for v in labels]
    bins = _bins(durations)
    low = pc.min(bins).as_py()
    span = pc.max(bins).as_py() - low + 1
    keyed = pa.table({
        "cell": cell, "error": pc.cast(pc.fill_null(table["error"], False), pa.int64()),
        "tin": pc.coalesce(table["usage_in"], table["text_in"]),
        "tout": pc.coalesce(table["usage_out"], table["text_out"]),
        "cin": table["cost_in"], "cout": table["cost_out"], "cost": table["cost"],
        "d": durations, "start": table["start_ns"], "end": table["end_ns"],
        "cell_bin": pc.add(pc.multiply(cell, span), pc.subtract(bins, low)),
    })
    sums = keyed.group_by("cell", use_threads=False).aggregate([
        ("d", "count"), ("error", "sum"), ("tin", "sum"), ("tout", "sum"), ("cin", "sum"), ("cin", "count"),
        ("cout", "sum"), ("cout", "count"), ("cost", "sum"), ("cost", "count"), ("d", "sum"), ("d", "min"),
        ("d", "max"), ("start", "min"), ("end", "max")])
    rows: dict[int, Row] = {}
    names = ["d_count", "error_sum", "tin_sum", "tout_sum", "cin_sum", "cin_count", "cout_sum", "cout_count",
             "cost_sum", "cost_count", "d_sum", "d_min", "d_max", "start_min", "end_max", "cell"]
    for found in zip(*(sums[n].to_pylist() for n in names), strict=True):
        *measures, code = found
        for i in (1, 2, 3, 4, 6, 8):  # sums of no value are null: zero
            measures[i] = measures[i] or 0
        key, parts = code, []
        for size, names in zip(reversed(sizes), reversed(labels), strict=True):
            key, k = divmod(key, size)
            parts.append(names[k])
        rows[code] = [*reversed(parts), *measures, [[], []]]
    counted = pc.value_counts(keyed["cell_bin"])
    for code_bin, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True):
        code, b = divmod(code_bin, span)
        hist = rows[code][-1]
        hist[0].append(b + low)
        hist[1].append(count)
    return list(rows.values())


def encode(rows: list[Row]) -> bytes:
    """A rollup as footer metadata (compact JSON: lists parse fastest)."""
    return json.dumps({"v": ROLLUP_VERSION, "rows": rows}, separators=(",", ":"), allow_nan=False).encode()


def decode(raw: bytes | None) -> list[Row] | None:
    """The rows of a footer's rollup; ``None`` when there is none, or of another version, or unreadable."""
    if not raw:
        return None
    try:
        found = json.loads(raw)
        if not isinstance(found, dict) or found.get("v") != ROLLUP_VERSION:
            return None
        rows: list[Row] = found["rows"]
        for row in rows:
            if len(row) != 4 + len(SUMS) + 1 or len(row[-1]) != 2 or len(row[-1][0]) != len(row[-1][1]):
                return None
        return rows
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return None


_KEYS = ("day", "operation_name", "model_key", "agent_key")
_AGGREGATES = [("d", "count"), ("error", "sum"), ("tin", "sum"), ("tout", "sum"), ("cin", "sum"), ("cin", "count"),
               ("cout", "sum"), ("cout", "count"), ("cost", "sum"), ("cost", "count"), ("d", "sum"), ("d", "min"),
               ("d", "max"), ("start", "min"), ("end", "max"), ("bad", "sum")]


@functools.cache
def _keyed_projection() -> dict[str, pc.Expression]:
    """:func:`projection`'s columns as the rollup's keys and measures, as expressions (one scan computes
    them); made once (building them held the GIL for a twentieth of a file's rollup)."""
    p = projection()
    start, d = p["start_ns"], p["duration_ms"]
    q = pc.divide(start, NS_PER_DAY)
    # ``&`` / ``~``: the registered names of ``and`` / ``invert`` (``pc.and_`` is not one)
    behind = pc.less(start, 0) & pc.not_equal(pc.multiply(q, NS_PER_DAY), start)
    valid = pc.greater(d, 0.0) & pc.less(d, math.inf)
    raw = pc.floor(pc.divide(pc.ln(pc.if_else(valid, d, 1.0)), math.log(GAMMA)))
    return {
        "day": pc.subtract(q, behind.cast(pa.int64())),
        "operation_name": p["operation_name"],
        "model_key": pc.coalesce(p["model"], NONE_LABEL),
        "agent_key": pc.coalesce(p["agent_name"], NONE_LABEL),
        "error": pc.coalesce(p["error"], False).cast(pa.int64()),
        "tin": pc.coalesce(p["usage_in"], p["text_in"]), "tout": pc.coalesce(p["usage_out"], p["text_out"]),
        "cin": p["cost_in"], "cout": p["cost_out"], "cost": p["cost"],
        "d": d, "start": start, "end": p["end_ns"],
        "bin": pc.if_else(valid, raw.cast(pa.int64()), SPECIAL_BIN),
        # a missing or non-finite duration: no rollup for the file (see rollup_rows)
        "bad": pc.coalesce(~pc.is_finite(d), True).cast(pa.int64()),
    }


def writer_rollup_rows(events: pa.Table) -> list[Row] | None:
    """:func:`rollup_rows` of ``events`` (event schema), computed with three Arrow calls.

    The same rows as ``rollup_rows(<events projected>)`` (a test holds them equal). Made for the
    writer: each Arrow call gives the GIL up and must take it back, which costs up to the
    interpreter's switch interval while the application is busy; ``rollup_rows`` makes ~45.
    """
    if events.num_rows == 0:
        return []
    keyed = ds.dataset(events).to_table(columns=_keyed_projection(), use_threads=False, memory_pool=WRITER_POOL)
    sums = keyed.group_by(list(_KEYS), use_threads=False).aggregate(_AGGREGATES)
    if any(sums["bad_sum"].to_pylist()):
        return None
    names = ["d_count", "error_sum", "tin_sum", "tout_sum", "cin_sum", "cin_count", "cout_sum", "cout_count",
             "cost_sum", "cost_count", "d_sum", "d_min", "d_max", "start_min", "end_max"]
    rows: dict[tuple[Any, ...], Row] = {}
    for found in zip(*(sums[k].to_pylist() for k in (*_KEYS, *names)), strict=True):
        key, measures = found[:4], list(found[4:])
        for i in (1, 2, 3, 4, 6, 8):  # sums of no value are null: zero
            measures[i] = measures[i] or 0
        rows[key] = [*key, *measures, [[], []]]
    counted = keyed.group_by([*_KEYS, "bin"], use_threads=False).aggregate([("bin", "count")])
    for *cell, b, count in zip(*(counted[k].to_pylist() for k in (*_KEYS, "bin", "bin_count")), strict=True):
        hist = rows[tuple(cell)][-1]
        hist[0].append(b)
        hist[1].append(count)
    return list(rows.values())


def file_rollup(events: pa.Table) -> bytes | None:
    """The footer value for a file holding ``events`` (event schema), or ``None`` (no rollup)."""
    rows = writer_rollup_rows(events)
    return None if rows is None else encode(rows)
