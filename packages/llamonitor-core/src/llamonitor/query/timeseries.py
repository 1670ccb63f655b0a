"""Time slices of an Arrow table of events (the Parquet query path of ``timeseries``).

One pass: each event's slice number is ``(start_ns - lo) // step``; counts and sums are
``bincount`` / Arrow group-bys over it, and each slice's p95 an exact (linear) percentile of its
durations after one stable sort by slice number.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from llamonitor.query.types import TimeBucket, bucket_plan
from llamonitor.schema.events import ns_to_datetime


def table_timeseries(table: pa.Table, lo: int, hi: int, buckets: int) -> list[TimeBucket]:
    """Slices of ``[lo, hi)`` from a table with ``start_ns``, ``duration_ms``, ``error``, ``tokens``, ``cost``.

    Rows outside ``[lo, hi)`` are ignored.
    """
    step, edges = bucket_plan(lo, hi, buckets)
    start = table["start_ns"]
    inside = pc.and_(pc.greater_equal(start, lo), pc.less(start, hi))
    t = table.filter(inside)
    counts: dict[int, dict[str, float]] = {}
    p95: dict[int, float | None] = {}
    if t.num_rows:
        slot = pc.divide(pc.subtract(t["start_ns"], lo), step)  # int64 division truncates; values >= 0
        grouped = pa.table({
            "slot": slot, "error": pc.cast(pc.fill_null(t["error"], False), pa.int64()),
            "tokens": t["tokens"], "cost": t["cost"], "duration": t["duration_ms"],
        })
        for row in grouped.group_by("slot").aggregate([
                ("error", "count"), ("error", "sum"), ("tokens", "sum"), ("cost", "sum")]).to_pylist():
            counts[int(row["slot"])] = row
        p95 = _slot_p95(grouped)
    out = []
    for i, (a, b) in enumerate(edges):
        row = counts.get(i)
        out.append(TimeBucket(start=ns_to_datetime(a), end=ns_to_datetime(b),
                              events=int(row["error_count"]) if row else 0,
                              errors=int(row["error_sum"] or 0) if row else 0, p95_ms=p95.get(i),
                              total_tokens=int(row["tokens_sum"] or 0) if row else 0,
                              cost_usd=float(row["cost_sum"] or 0.0) if row else 0.0))
    return out


def _slot_p95(grouped: pa.Table) -> dict[int, float | None]:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - pyarrow >= 16 does not require numpy
        out: dict[int, float | None] = {}
        for row in grouped.group_by("slot").aggregate([("duration", "list")]).to_pylist():
            values = pa.array(row["duration_list"], type=pa.float64())
            out[int(row["slot"])] = pc.quantile(values, q=[0.95], interpolation="linear").to_pylist()[0]
        return out
    slots = grouped["slot"].combine_chunks().to_numpy(zero_copy_only=False)
    durations = grouped["duration"].combine_chunks().to_numpy(zero_copy_only=False).astype(np.float64)
    order = np.argsort(slots, kind="stable")
    slots, durations = slots[order], durations[order]
    bounds = np.flatnonzero(np.diff(slots)) + 1
    result: dict[int, float | None] = {}
    for begin, end in zip([0, *bounds.tolist()], [*bounds.tolist(), len(slots)], strict=True):
        part = durations[begin:end]
        part = part[~np.isnan(part)]
        result[int(slots[begin])] = float(np.percentile(part, 95)) if len(part) else None
    return result
