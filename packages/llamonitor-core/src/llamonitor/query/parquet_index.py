"""Per-session and per-trace totals of a Parquet dataset, kept up to date as files are added.

``sessions`` (most recent first) and ``traces`` of one session group every event of the
dataset: over a million events that is a full hash group-by per request, far too slow for a
dashboard under load. :class:`SessionIndex` keeps the answer instead, in two parts (a small
log-structured merge):

- the **base**: one row per ``(session_id, trace_id)`` pair with its events, errors, first
  start, last end, tokens and cost, sorted by session (each session's rows are one slice), and
  the per-session totals derived from it;
- the **delta**: the rows of the files added since the base was built (new files are read
  once, a few hundred rows each), merged into the base once they pass
  :data:`COMPACT_ROWS`.

A question is answered from the base plus the delta's contribution, so a request costs a slice
and a small group-by, and a new file costs only its own rows. Answers are exact, with the same
definitions as the scan (a session's ``traces`` counts its distinct trace ids; a pair seen in
both parts counts once). The index is used only when no file of the snapshot may share an
event with another (:attr:`~llamonitor.query.parquet_files.Snapshot.suspects`): de-duplicating
is the scan's job. It is bounded (:attr:`SessionIndex.max_bytes`; beyond, the scan answers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from llamonitor.query.parquet_files import FileInfo, Snapshot
from llamonitor.query.types import SessionInfo, TraceInfo
from llamonitor.schema.events import ns_to_datetime
from llamonitor.schema.projection import SUMMARY_SCHEMA

#: delta rows merged into the base beyond this (a merge costs a group-by over the pairs)
COMPACT_ROWS = 100_000
#: the per-pair sums, in the order they are aggregated
_PAIR_AGGS = [("n", "sum"), ("errors", "sum"), ("first", "min"), ("last", "max"), ("tin", "sum"), ("tout", "sum"),
              ("cost", "sum"), ("cost_n", "sum")]
_PAIR_NAMES = ["n", "errors", "first", "last", "tin", "tout", "cost", "cost_n"]
_KEYS = ["session_id", "trace_id"]

#: reads the summary columns of whole files (path -> table)
Reader = Callable[[list[FileInfo]], dict[str, pa.Table]]


def slim(table: pa.Table) -> pa.Table:
    """One row per event with what the index adds up, from the summary columns of a file."""
    return pa.table({
        "session_id": table["session_id"], "trace_id": table["trace_id"],
        "n": pa.repeat(pa.scalar(1, pa.int64()), table.num_rows),
        "errors": pc.cast(pc.fill_null(table["error"], False), pa.int64()),
        "first": table["start_ns"], "last": table["end_ns"],
        "tin": pc.coalesce(table["usage_in"], table["text_in"]),
        "tout": pc.coalesce(table["usage_out"], table["text_out"]),
        "cost": table["cost"], "cost_n": pc.cast(pc.is_valid(table["cost"]), pa.int64()),
    })


def _pairs(rows: pa.Table) -> pa.Table:
    """Rows (events or pairs) summed per ``(session_id, trace_id)``, sorted by session."""
    if rows.num_rows == 0:
        return pa.table({k: pa.array([], pa.string()) for k in _KEYS}
                        | {n: pa.array([], pa.float64() if n == "cost" else pa.int64()) for n in _PAIR_NAMES})
    grouped = rows.group_by(_KEYS, use_threads=False).aggregate(_PAIR_AGGS)
    grouped = grouped.rename_columns([_rename(c) for c in grouped.column_names])
    return grouped.sort_by([("session_id", "ascending")]).select(_KEYS + _PAIR_NAMES)


def _rename(column: str) -> str:
    for suffix in ("_sum", "_min", "_max"):
        if column.endswith(suffix) and column[:-len(suffix)] in _PAIR_NAMES:
            return column[:-len(suffix)]
    return column


def _sessions(pairs: pa.Table) -> pa.Table:
    """Per-session totals of a pairs table (``traces``: its pairs)."""
    grouped = pairs.group_by("session_id", use_threads=False).aggregate(
        [("trace_id", "count")] + [(n, "min" if n == "first" else "max" if n == "last" else "sum")
                                   for n in _PAIR_NAMES])
    return grouped.rename_columns(["traces" if c == "trace_id_count" else _rename(c) for c in grouped.column_names])


def _offsets(pairs: pa.Table) -> dict[str, tuple[int, int]]:
    """Each session's slice of a pairs table sorted by session."""
    if pairs.num_rows == 0:
        return {}
    runs = pc.run_end_encode(pairs["session_id"].combine_chunks())
    ends = runs.run_ends.to_pylist()
    out: dict[str, tuple[int, int]] = {}
    start = 0
    for session, end in zip(runs.values.to_pylist(), ends, strict=True):
        out[session] = (start, end - start)
        start = end
    return out


#: a pair's sums in the delta: n, errors, first, last, tin, tout, cost, cost_n
Sums = list[Any]


def _merge(into: Sums, add: Sums) -> None:
    into[0] += add[0]
    into[1] += add[1]
    into[2] = min(into[2], add[2])
    into[3] = max(into[3], add[3])
    for i in (4, 5, 6):  # sums of no value are null, as the Arrow aggregation leaves them
        if add[i] is not None:
            into[i] = add[i] if into[i] is None else into[i] + add[i]
    into[7] += add[7]


class _Delta:
    """The pairs of the files added since the base was built: session -> trace -> sums. Changed
    in place under the index lock (a reader holding an older state then sees newer data: fresher)."""

    def __init__(self) -> None:
        self.pairs: dict[str, dict[str, Sums]] = {}
        self.rows = 0
        self.count = 0

    def add(self, grouped: pa.Table) -> None:
        """Add per-pair sums (:func:`_pairs` of new rows)."""
        columns = [grouped[c].to_pylist() for c in _KEYS + _PAIR_NAMES]
        for session, trace, *sums in zip(*columns, strict=True):
            traces = self.pairs.setdefault(session, {})
            found = traces.get(trace)
            if found is None:
                traces[trace] = sums
                self.count += 1
            else:
                _merge(found, sums)
        self.rows += int(pc.sum(grouped["n"]).as_py() or 0)

    def table(self) -> pa.Table:
        """The pairs as a table shaped like the base's."""
        rows = [(s, t, *sums) for s, traces in self.pairs.items() for t, sums in traces.items()]
        names = _KEYS + _PAIR_NAMES
        if not rows:
            return _pairs(slim(SUMMARY_SCHEMA.empty_table()))
        columns = list(zip(*rows, strict=True))
        types = [pa.string(), pa.string()] + [pa.float64() if n == "cost" else pa.int64() for n in _PAIR_NAMES]
        return pa.table([pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=names)


class _State:
    """One state of the index: an immutable base and the shared delta (read under ``lock``)."""

    def __init__(self, version: int, keys: frozenset[tuple[str, int, int]], pairs: pa.Table,
                 offsets: dict[str, tuple[int, int]], sessions: pa.Table, delta: _Delta, lock: threading.RLock) -> None:
        self.version = version
        self.keys = keys
        self.pairs = pairs
        self.offsets = offsets
        self.sessions = sessions
        self.delta = delta
        self.lock = lock
        self._view: pa.Table | None = None

    @property
    def nbytes(self) -> int:
        """Memory held (the base's pairs and sessions, about 200 bytes per delta pair)."""
        held: int = self.pairs.get_total_buffer_size() + self.sessions.get_total_buffer_size()
        return held + 200 * self.delta.count

    def base_traces(self, session_id: str) -> pa.Table:
        """The base's rows of one session."""
        start, length = self.offsets.get(session_id, (0, 0))
        return self.pairs.slice(start, length)

    def view(self) -> pa.Table:
        """Every session's totals, base and delta merged, most recent last event first (made once per state)."""
        found = self._view
        if found is not None:
            return found
        with self.lock:
            touched = {s: [list(v) for v in traces.values()] + [list(traces)]
                       for s, traces in self.delta.pairs.items()}
        sessions = self.sessions
        if touched:
            rows = []
            for session, (*pairs, trace_ids) in touched.items():
                # a trace already in the base adds its sums, not a trace
                known = set(self.base_traces(session)["trace_id"].to_pylist()) if session in self.offsets else set()
                total = list(pairs[0])
                for sums in pairs[1:]:
                    _merge(total, sums)
                rows.append((session, sum(1 for t in trace_ids if t not in known), *total))
            columns = list(zip(*rows, strict=True))
            names = ["session_id", "traces", *_PAIR_NAMES]
            types = [pa.string(), pa.int64()] + [pa.float64() if n == "cost" else pa.int64() for n in _PAIR_NAMES]
            counted = pa.table([pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=names)
            merged = pa.concat_tables([sessions, counted.select(sessions.column_names)], promote_options="permissive")
            grouped = merged.group_by("session_id", use_threads=False).aggregate(
                [(c, "min" if c == "first" else "max" if c == "last" else "sum")
                 for c in sessions.column_names if c != "session_id"])
            sessions = grouped.rename_columns([_rename(c) if c != "traces_sum" else "traces"
                                               for c in grouped.column_names])
        ordered = sessions.sort_by([("last", "descending"), ("session_id", "ascending")])
        self._view = ordered
        return ordered


class SessionIndex:
    """See the module docstring. ``update(snapshot, read)`` then ``sessions`` / ``traces`` / ``counts``."""

    def __init__(self, max_bytes: int, *, compact_rows: int = COMPACT_ROWS) -> None:
        self.max_bytes = max_bytes
        self.compact_rows = compact_rows
        self._state: _State | None = None
        #: held while the delta changes (and by readers of it: briefly)
        self._lock = threading.RLock()
        #: held for a whole update (reading new files included)
        self._updating = threading.Lock()
        self._too_big = 1 << 62
        #: full builds and merges done (for tests)
        self.builds = 0
        self.merges = 0

    def current(self, snap: Snapshot) -> _State | None:
        """The state if it already answers for ``snap`` (nothing to read), else ``None``."""
        state = self._state
        if state is None or state.version < snap.version or not snap.suspects_known or snap.suspects:
            return None
        return state

    def update(self, snap: Snapshot, read: Reader) -> _State | None:
        """The state answering for ``snap`` (or a newer one); ``None``: the index cannot answer."""
        if snap.suspects or self.max_bytes <= 0 or snap.rows >= self._too_big:
            return None
        state = self._state
        if state is not None and state.version >= snap.version:
            return state  # this snapshot's files, or newer ones: as fresh as asked
        with self._updating:  # one update at a time; readers of the current state are not held up
            state = self._state
            if state is not None and state.version >= snap.version:
                return state
            added = snap.added_since(state.keys) if state is not None else None
            if state is None or added is None:
                state = self._build(snap, read)
            elif added:
                state = self._append(state, snap, added, read)
            else:
                state = _State(snap.version, snap.keys, state.pairs, state.offsets, state.sessions, state.delta,
                               self._lock)
            if state is not None and state.nbytes > self.max_bytes:
                self._too_big = snap.rows  # the scans answer until the dataset is smaller
                state = None
            self._state = state
            return state

    def _build(self, snap: Snapshot, read: Reader) -> _State:
        self.builds += 1
        tables = read(list(snap.files))
        rows = [slim(t) for t in tables.values()]
        pairs = _pairs(pa.concat_tables(rows) if rows else slim(SUMMARY_SCHEMA.empty_table()))
        return _State(snap.version, snap.keys, pairs, _offsets(pairs), _sessions(pairs), _Delta(), self._lock)

    def _append(self, state: _State, snap: Snapshot, added: list[FileInfo], read: Reader) -> _State:
        tables = read(added)  # decoded before taking the readers' lock
        delta = state.delta
        if tables:
            grouped = _pairs(pa.concat_tables([slim(t) for t in tables.values()]))
            with self._lock:
                delta.add(grouped)
        if delta.rows > self.compact_rows:
            self.merges += 1
            pairs = _pairs(pa.concat_tables([state.pairs, delta.table()]))
            return _State(snap.version, snap.keys, pairs, _offsets(pairs), _sessions(pairs), _Delta(), self._lock)
        return _State(snap.version, snap.keys, state.pairs, state.offsets, state.sessions, delta, self._lock)


def counts(state: _State) -> tuple[int, int]:
    """``(sessions, traces)``: distinct sessions and distinct ``(session_id, trace_id)`` pairs."""
    view = state.view()
    return view.num_rows, int(pc.sum(view["traces"]).as_py() or 0)


def sessions_page(state: _State, limit: int, offset: int) -> list[SessionInfo]:
    """Sessions, most recent last event first (ties by id)."""
    page = state.view().slice(offset, limit).to_pylist()
    return [SessionInfo(session_id=r["session_id"], events=r["n"], errors=int(r["errors"] or 0), traces=r["traces"],
                        first_event=ns_to_datetime(r["first"]), last_event=ns_to_datetime(r["last"]),
                        input_tokens=int(r["tin"] or 0), output_tokens=int(r["tout"] or 0),
                        total_cost_usd=r["cost"] if r["cost_n"] else None) for r in page]


def session_info(state: _State, session_id: str) -> SessionInfo | None:
    """One session's totals (``None``: no event)."""
    rows = _trace_rows(state, session_id)
    if not rows:
        return None
    total = [rows[0][n] for n in _PAIR_NAMES]
    for r in rows[1:]:
        _merge(total, [r[n] for n in _PAIR_NAMES])
    t = dict(zip(_PAIR_NAMES, total, strict=True))
    return SessionInfo(session_id=session_id, events=t["n"], errors=int(t["errors"] or 0), traces=len(rows),
                       first_event=ns_to_datetime(t["first"]), last_event=ns_to_datetime(t["last"]),
                       input_tokens=int(t["tin"] or 0), output_tokens=int(t["tout"] or 0),
                       total_cost_usd=t["cost"] if t["cost_n"] else None)


def _trace_rows(state: _State, session_id: str) -> list[dict[str, Any]]:
    """One dict per trace of ``session_id`` (base and delta merged), in plain Python: a session
    holds a few traces, where each Arrow call would cost more than the work."""
    rows = {r["trace_id"]: r for r in state.base_traces(session_id).to_pylist()}
    with state.lock:
        fresh = [(t, list(sums)) for t, sums in state.delta.pairs.get(session_id, {}).items()]
    for trace, sums in fresh:
        found = rows.get(trace)
        if found is None:
            rows[trace] = {"session_id": session_id, "trace_id": trace, **dict(zip(_PAIR_NAMES, sums, strict=True))}
            continue
        merged = [found[n] for n in _PAIR_NAMES]
        _merge(merged, sums)
        found.update(zip(_PAIR_NAMES, merged, strict=True))
    return list(rows.values())


def traces_page(state: _State, session_id: str, limit: int, offset: int) -> list[TraceInfo]:
    """Traces of one session, in order of their first event (ties by id)."""
    rows = sorted(_trace_rows(state, session_id), key=lambda r: (r["first"], r["trace_id"]))
    return [TraceInfo(session_id=session_id, trace_id=r["trace_id"], events=r["n"], errors=int(r["errors"] or 0),
                      first_event=ns_to_datetime(r["first"]), last_event=ns_to_datetime(r["last"]),
                      duration_ms=(r["last"] - r["first"]) / 1e6, total_cost_usd=r["cost"] if r["cost_n"] else None)
            for r in rows[offset:offset + limit]]


__all__ = ["COMPACT_ROWS", "SessionIndex", "counts", "session_info", "sessions_page", "slim", "traces_page"]
