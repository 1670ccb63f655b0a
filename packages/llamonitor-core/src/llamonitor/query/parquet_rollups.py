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
with one hash group-by over every file's two id columns, read once (about a tenth of a full
decode) and kept per file by the query layer. The merge uses NumPy; without it every question
takes the exact path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from llamonitor.backends.parquet_rollups import SUMS, Row, decode, projection, rollup_rows
from llamonitor.backends.pg_rollups import SPECIAL_BIN
from llamonitor.query.parquet_files import FileInfo, IdRange, Snapshot
from llamonitor.query.rollups import Groups, _Acc, usable
from llamonitor.query.summary import _has_numpy
from llamonitor.query.types import EventFilter

_N_SUMS = len(SUMS)


def inside(r: IdRange, f: EventFilter | None) -> bool:
    """Whether every event of the file starts inside ``f``'s time range (footer statistics)."""
    if f is None or (f.start_ns is None and f.end_ns is None):
        return True
    if r.start_low is None or r.start_high is None:
        return False
    return (f.start_ns is None or r.start_low >= f.start_ns) and (f.end_ns is None or r.start_high < f.end_ns)


def _keeps(key: tuple[Any, ...], f: EventFilter | None) -> bool:
    if f is None:
        return True
    return all(value is None or key[i] == value
               for i, value in ((1, f.operation_name), (2, f.model), (3, f.agent_name)))


# positions in SUMS of the integer sums, the float sums, and the extremes
_INTS = (0, 1, 2, 3, 5, 7, 9)  # events, errors, tin, tout, cin_n, cout_n, cost_n
_FLOATS = (4, 6, 8, 10)  # cin, cout, cost, dsum
_DMIN, _DMAX, _FIRST, _LAST = 11, 12, 13, 14


class Rollup:
    """Rollup rows as NumPy arrays (one row per day, operation, model and agent of some files).

    Made once per file (footers are immutable) and concatenated per question, so merging a
    thousand footers is a few array operations, not a Python loop over their rows.
    """

    __slots__ = ("bins", "counts", "dmax", "dmin", "first", "floats", "ints", "keys", "last", "sizes")

    def __init__(self, keys: list[tuple[Any, ...]], ints: Any, floats: Any, dmin: Any, dmax: Any, first: Any,
                 last: Any, bins: Any, counts: Any, sizes: Any) -> None:
        self.keys = keys
        self.ints, self.floats, self.dmin, self.dmax = ints, floats, dmin, dmax
        self.first, self.last, self.bins, self.counts, self.sizes = first, last, bins, counts, sizes

    @classmethod
    def of(cls, rows: list[Row]) -> Rollup:
        """From rollup rows (a footer's, or :func:`rollup_rows` of decoded events)."""
        import numpy as np

        n = len(rows)
        sums = [row[4:4 + _N_SUMS] for row in rows]
        return cls(
            keys=[tuple(row[:4]) for row in rows],
            ints=np.array([[v[i] for i in _INTS] for v in sums], dtype=np.int64).reshape(n, len(_INTS)),
            floats=np.array([[v[i] for i in _FLOATS] for v in sums], dtype=np.float64).reshape(n, len(_FLOATS)),
            dmin=np.array([v[_DMIN] for v in sums], dtype=np.float64),
            dmax=np.array([v[_DMAX] for v in sums], dtype=np.float64),
            first=np.array([v[_FIRST] for v in sums], dtype=np.int64),
            last=np.array([v[_LAST] for v in sums], dtype=np.int64),
            bins=np.array([b for row in rows for b in row[-1][0]], dtype=np.int64),
            counts=np.array([c for row in rows for c in row[-1][1]], dtype=np.int64),
            sizes=np.array([len(row[-1][0]) for row in rows], dtype=np.int64))

    @classmethod
    def concat(cls, parts: list[Rollup]) -> Rollup:
        """All ``parts``' rows in one."""
        import numpy as np

        if not parts:
            return cls.of([])
        if len(parts) == 1:
            return parts[0]
        return cls(keys=[k for p in parts for k in p.keys],
                   **{name: np.concatenate([getattr(p, name) for p in parts])
                      for name in ("ints", "floats", "dmin", "dmax", "first", "last", "bins", "counts", "sizes")})

    def where(self, keep: Any) -> Rollup:
        """The rows where the boolean array ``keep`` is true."""
        import numpy as np

        by_bin = np.repeat(keep, self.sizes)
        return Rollup([k for k, kept in zip(self.keys, keep.tolist(), strict=True) if kept], self.ints[keep],
                      self.floats[keep], self.dmin[keep], self.dmax[keep], self.first[keep], self.last[keep],
                      self.bins[by_bin], self.counts[by_bin], self.sizes[keep])

    @property
    def events(self) -> int:
        """How many events the rows count."""
        return int(self.ints[:, 0].sum())


def _histograms(r: Rollup, codes: Any, groups: int) -> list[dict[int, int]]:
    """Per group, the sum of its rows' histograms (``codes``: each row's group)."""
    import numpy as np

    if not len(r.bins):
        return [{} for _ in range(groups)]
    special = r.bins == SPECIAL_BIN
    regular = r.bins[~special]
    low = int(regular.min()) if len(regular) else 0
    width = (int(regular.max()) - low + 2) if len(regular) else 1
    # slot 0 of each group holds the special bin (zero / negative durations), then low, low + 1...
    slots = np.where(special, 0, r.bins - low + 1)
    owner = np.repeat(codes, r.sizes)
    totals = np.bincount(owner * width + slots, weights=r.counts, minlength=groups * width).astype(np.int64)
    out: list[dict[int, int]] = []
    for g in range(groups):
        row_totals = totals[g * width:(g + 1) * width]
        out.append({(SPECIAL_BIN if s == 0 else int(s) - 1 + low): int(row_totals[s])
                    for s in np.flatnonzero(row_totals)})
    return out


def accumulate(r: Rollup, *, histograms: bool, kinds: tuple[str, ...] = ("all", "operation", "model", "agent")
               ) -> Groups:
    """Rollup rows added up per group of each of ``kinds``: ``("all", "")``, ``("operation", x)``,
    ``("model", x)``, ``("agent", x)``, ``("day", "<day number>")``."""
    import numpy as np

    accs: Groups = {}
    n = len(r.keys)
    if not n:
        return accs
    column = {"operation": 1, "model": 2, "agent": 3}
    groupings: list[tuple[str, list[Any]]] = []
    for kind in kinds:
        if kind == "all":
            groupings.append((kind, [""] * n))
        elif kind == "day":
            groupings.append((kind, [str(k[0]) for k in r.keys]))
        else:
            groupings.append((kind, [k[column[kind]] for k in r.keys]))
    for kind, labels in groupings:
        index: dict[Any, int] = {}
        codes = np.fromiter((index.setdefault(label, len(index)) for label in labels), dtype=np.int64, count=n)
        size = len(index)
        ints = np.zeros((size, len(_INTS)), dtype=np.int64)
        np.add.at(ints, codes, r.ints)
        floats = np.zeros((size, len(_FLOATS)), dtype=np.float64)
        np.add.at(floats, codes, r.floats)
        dmin = np.full(size, np.inf)
        np.minimum.at(dmin, codes, r.dmin)
        dmax = np.full(size, -np.inf)
        np.maximum.at(dmax, codes, r.dmax)
        first = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, codes, r.first)
        last = np.full(size, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, codes, r.last)
        hists = _histograms(r, codes, size) if histograms else None
        for label, g in index.items():
            acc = _Acc()
            (acc.events, acc.errors, acc.tin, acc.tout, acc.cin_n, acc.cout_n,
             acc.cost_n) = (int(v) for v in ints[g])
            acc.cin, acc.cout, acc.cost, acc.dsum = (float(v) for v in floats[g])
            acc.dmin, acc.dmax = float(dmin[g]), float(dmax[g])
            acc.first, acc.last = int(first[g]), int(last[g])
            if hists is not None:
                acc.hist.update(hists[g])
            accs[(kind, label)] = acc
    return accs


Scan = Callable[[list[str], Any, bool], pa.Table]


class RollupSource:
    """The rollup rows answering one question, from footers and from the decoded files the range cuts."""

    def __init__(self, exact_limit: int) -> None:
        self.exact_limit = exact_limit
        #: each file's rollup by (path, size, mtime) -- from its footer, or computed once for a file
        #: written without one; ``None``: it has none (a duration that is not a finite number)
        self._rows: dict[tuple[str, int, int], Rollup | None] = {}

    def retain(self, keys: frozenset[tuple[str, int, int]]) -> None:
        """Forget the rollups of files no longer listed."""
        current = list(self._rows.items())  # one step: other query threads add entries meanwhile
        if any(k not in keys for k, _ in current):
            self._rows = {k: v for k, v in current if k in keys}

    def _file_rollup(self, path: str, key: tuple[str, int, int], found: IdRange, scan: Scan) -> Rollup | None:
        if key not in self._rows:
            rows = decode(found.rollup)
            if rows is None:  # older file: aggregate it once, keep the result
                rows = rollup_rows(scan([path], projection(), False))
            self._rows[key] = None if rows is None else Rollup.of(rows)
        return self._rows[key]

    def rows(self, f: EventFilter | None, *, keys: bool, percentiles: bool, files: list[str],
             ranges: dict[str, tuple[tuple[str, int, int], IdRange]], suspects: set[str],
             scan: Scan) -> Rollup | None:
        """The rollup of the events ``f`` selects in ``files``; ``None``: ask the exact path.

        ``ranges`` maps a file to its cache key and footer facts; ``scan(paths, columns,
        filtered)`` reads columns of some files, with ``f`` applied when ``filtered``.
        """
        if not usable(f, keys=keys) or not _has_numpy():
            return None
        if any(path in suspects for path in files):
            return None  # events may repeat across files: the exact path de-duplicates them
        cut = [p for p in files if p not in ranges or not inside(ranges[p][1], f)]
        if sum(ranges[p][1].rows if p in ranges else self.exact_limit + 1 for p in cut) > self.exact_limit:
            return None  # mostly cut files: the exact path (whose decoded columns are cached) is faster
        parts: list[Rollup] = []
        for path in files:
            if path in cut:
                continue
            key, found = ranges[path]
            file_rollup = self._file_rollup(path, key, found, scan)
            if file_rollup is None:
                cut.append(path)
            else:
                parts.append(file_rollup)
        whole = Rollup.concat(parts)
        if f is not None and (f.operation_name is not None or f.model is not None or f.agent_name is not None):
            import numpy as np

            whole = whole.where(np.fromiter((_keeps(k, f) for k in whole.keys), dtype=bool, count=len(whole.keys)))
        if cut:
            decoded = rollup_rows(scan(cut, projection(), True))
            if decoded is None:
                return None  # a duration that is not a finite number: the exact path copes
            whole = Rollup.concat([whole, Rollup.of(decoded)])
        if percentiles and whole.events <= self.exact_limit:
            return None
        return whole


#: every group :class:`Totals` keeps: summary, aggregates and costs without filters read them
TOTAL_KINDS = ("all", "operation", "model", "agent", "day")


def total_groups(r: Rollup) -> Groups:
    """The groups of :data:`TOTAL_KINDS`; days without histograms (costs by day read no percentile)."""
    accs = accumulate(r, histograms=True, kinds=TOTAL_KINDS[:4])
    accs.update(accumulate(r, histograms=False, kinds=("day",)))
    return accs


class Totals:
    """Every file's rollup added up, extended file by file as files are added.

    A summary (or aggregates, or costs) of the whole dataset merges the rollups of every file:
    a few array operations per thousand files, but on every request. The merged groups are kept
    with the file set they cover; when the next snapshot only added files, only those are merged
    in (a new file costs its own rollup rows), otherwise everything is merged again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: tuple[int, frozenset[tuple[str, int, int]], Groups] | None = None
        #: full merges done (for tests)
        self.rebuilds = 0

    def groups(self, snap: Snapshot, rollup_of: Callable[[FileInfo], Rollup | None]) -> Groups | None:
        """The groups of :data:`TOTAL_KINDS` over every event of ``snap`` (or of a newer snapshot);
        ``None`` when a file has no rollup or files may share events (the exact path answers)."""
        if snap.suspects or not _has_numpy():
            return None
        state = self._state
        if state is not None and state[0] >= snap.version:
            return state[2]
        with self._lock:
            state = self._state
            if state is not None and state[0] >= snap.version:
                return state[2]
            added = snap.added_since(state[1]) if state is not None else None
            if state is None or added is None:
                self.rebuilds += 1
                base: Groups = {}
                added = list(snap.files)
            else:
                base = state[2]
            parts = []
            for info in added:
                found = rollup_of(info)
                if found is None:
                    return None
                parts.append(found)
            merged = {key: acc.copy() for key, acc in base.items()} if parts else base
            if parts:
                for key, acc in total_groups(Rollup.concat(parts)).items():
                    if key in merged:
                        merged[key].merge(acc)
                    else:
                        merged[key] = acc
            self._state = (snap.version, snap.keys, merged)
            return merged


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
