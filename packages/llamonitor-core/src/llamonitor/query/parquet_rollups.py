"""Summaries of a Parquet dataset from its files' footer rollups (:mod:`llamonitor.backends.parquet_rollups`).

Which questions they answer, and how exactly, is what PostgreSQL's rollups answer
(:mod:`llamonitor.query.rollups`): ``summary`` without filters or with only a time range;
``aggregates`` and ``costs`` by model, operation, agent or day with a time range and / or an
operation, model or agent. A file whose start times all fall inside the range contributes its
footer rows; a file the range cuts (and a file without a rollup) is decoded and aggregated the
same way, its rows filtered exactly. Counts and sums are exact; percentiles come from the
merged latency histograms (within 2 %), and only when more than ``exact_percentile_limit``
events match -- below that, the exact path sorts the durations. Files that may share events
with another batch's file (a rare re-delivery, see :mod:`llamonitor.query.parquet`) send the
whole question to the exact path, which de-duplicates them.

Distinct sessions and traces cannot be added up across files: for a summary they are counted
from each file's distinct ``(session_id, trace_id)`` pairs, read once from the two id columns
(about a tenth of a full decode) and kept per file by the query layer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from llamonitor.backends.parquet_rollups import SUMS, Row, decode, projection, rollup_rows
from llamonitor.backends.pg_rollups import SPECIAL_BIN
from llamonitor.query.parquet_files import IdRange
from llamonitor.query.rollups import Groups, _Acc, usable
from llamonitor.query.types import EventFilter

_KINDS = ((1, "operation"), (2, "model"), (3, "agent"))
_N_SUMS = len(SUMS)


def _has_numpy() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:  # pragma: no cover - numpy ships with the usual installs
        return False
    return True


def inside(r: IdRange, f: EventFilter | None) -> bool:
    """Whether every event of the file starts inside ``f``'s time range (footer statistics)."""
    if f is None or (f.start_ns is None and f.end_ns is None):
        return True
    if r.start_low is None or r.start_high is None:
        return False
    return (f.start_ns is None or r.start_low >= f.start_ns) and (f.end_ns is None or r.start_high < f.end_ns)


def _keeps(row: Row, f: EventFilter | None) -> bool:
    if f is None:
        return True
    return all(value is None or row[i] == value
               for i, value in ((1, f.operation_name), (2, f.model), (3, f.agent_name)))


def merge_histograms(rows: list[Row], owners: list[list[int]], groups: int) -> list[dict[int, int]]:
    """Per group, the sum of the histograms of the rows it owns (``owners[i]``: the groups of ``rows[i]``)."""
    import numpy as np

    sizes = np.asarray([len(row[-1][0]) for row in rows], dtype=np.int64)
    if not len(rows) or not sizes.sum():
        return [{} for _ in range(groups)]
    bins = np.concatenate([np.asarray(row[-1][0], dtype=np.int64) for row in rows])
    counts = np.concatenate([np.asarray(row[-1][1], dtype=np.int64) for row in rows])
    special = bins == SPECIAL_BIN
    regular = bins[~special]
    low = int(regular.min()) if len(regular) else 0
    width = (int(regular.max()) - low + 2) if len(regular) else 1
    # slot 0 of each group holds the special bin (zero / negative durations), then low, low + 1...
    slots = np.where(special, 0, bins - low + 1)
    totals = np.zeros(groups * width, dtype=np.int64)
    for j in range(len(owners[0])):  # every row belongs to as many groups (one per grouping)
        owner = np.repeat(np.asarray([o[j] for o in owners], dtype=np.int64), sizes)
        totals += np.bincount(owner * width + slots, weights=counts, minlength=groups * width).astype(np.int64)
    out: list[dict[int, int]] = []
    for g in range(groups):
        row_totals = totals[g * width:(g + 1) * width]
        out.append({(SPECIAL_BIN if s == 0 else int(s) - 1 + low): int(row_totals[s])
                    for s in np.flatnonzero(row_totals)})
    return out


def accumulate(rows: list[Row], *, histograms: bool, by_day: bool = False) -> Groups:
    """Rollup rows added up per ``("all", "")``, ``("operation", x)``, ``("model", x)``, ``("agent", x)``
    (and ``("day", "<day number>")`` with ``by_day``)."""
    accs: Groups = defaultdict(_Acc)
    index: dict[tuple[str, str], int] = {}
    owners: list[list[int]] = []
    for row in rows:
        sums = tuple(row[4:4 + _N_SUMS])
        keys = [("all", "")] + [(kind, row[i]) for i, kind in _KINDS]
        if by_day:
            keys.append(("day", str(row[0])))
        for key in keys:
            accs[key].add(sums)
        owners.append([index.setdefault(key, len(index)) for key in keys])
    if histograms and rows:
        merged = merge_histograms(rows, owners, len(index))
        for key, i in index.items():
            accs[key].hist.update(merged[i])
    return accs


Scan = Callable[[list[str], Any, bool], pa.Table]


class RollupSource:
    """The rollup rows answering one question, from footers and from the decoded files the range cuts."""

    def __init__(self, exact_limit: int) -> None:
        self.exact_limit = exact_limit
        #: each file's rollup by (path, size, mtime) -- from its footer, or computed once for a file
        #: written without one; ``None``: it has none (a duration that is not a finite number)
        self._rows: dict[tuple[str, int, int], list[Row] | None] = {}

    def _file_rows(self, path: str, key: tuple[str, int, int], found: IdRange, scan: Scan) -> list[Row] | None:
        if key not in self._rows:
            rows = decode(found.rollup)
            if rows is None:  # older file: aggregate it once, keep the result
                rows = rollup_rows(scan([path], projection(), False))
            self._rows[key] = rows
        return self._rows[key]

    def rows(self, f: EventFilter | None, *, keys: bool, percentiles: bool, files: list[str],
             ranges: dict[str, tuple[tuple[str, int, int], IdRange]], suspects: set[str],
             scan: Scan) -> list[Row] | None:
        """The rows of the events ``f`` selects in ``files``; ``None``: ask the exact path.

        ``ranges`` maps a file to its cache key and footer facts; ``scan(paths, columns,
        filtered)`` reads columns of some files, with ``f`` applied when ``filtered``.
        """
        if not usable(f, keys=keys) or (percentiles and not _has_numpy()):
            return None
        if any(path in suspects for path in files):
            return None  # events may repeat across files: the exact path de-duplicates them
        live = {key for key, _ in ranges.values()}
        self._rows = {k: v for k, v in self._rows.items() if k in live}
        cut = [p for p in files if p not in ranges or not inside(ranges[p][1], f)]
        if sum(ranges[p][1].rows if p in ranges else self.exact_limit + 1 for p in cut) > self.exact_limit:
            return None  # mostly cut files: the exact path (whose decoded columns are cached) is faster
        out: list[Row] = []
        for path in files:
            if path in cut:
                continue
            key, found = ranges[path]
            file_rows = self._file_rows(path, key, found, scan)
            if file_rows is None:
                cut.append(path)
            else:
                out.extend(row for row in file_rows if _keeps(row, f))
        if cut:
            decoded = rollup_rows(scan(cut, projection(), True))
            if decoded is None:
                return None  # a duration that is not a finite number: the exact path copes
            out.extend(decoded)
        if percentiles and sum(int(row[4]) for row in out) <= self.exact_limit:
            return None
        return out


def distinct_pairs(table: pa.Table) -> pa.Table:
    """The distinct ``(session_id, trace_id)`` rows of ``table``."""
    keys = ["session_id", "trace_id"]
    return table.select(keys).group_by(keys, use_threads=False).aggregate([])


def trace_counts(table: pa.Table) -> tuple[int, int]:
    """``(sessions, traces)``: distinct session ids and distinct ``(session_id, trace_id)`` pairs."""
    if table.num_rows == 0:
        return 0, 0
    pairs = distinct_pairs(table)
    sessions = pairs.group_by(["session_id"], use_threads=False).aggregate([]).num_rows
    return sessions, pairs.num_rows


def id_columns() -> dict[str, Any]:
    """The projection :func:`trace_counts` reads."""
    return {"session_id": ds.field("session_id"), "trace_id": ds.field("trace_id")}
