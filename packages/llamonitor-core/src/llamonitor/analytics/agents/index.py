"""One index of an operations list, built once and shared by every analysis that takes the list.

Agent detection, handoffs, drift, the graph, bottlenecks and coalitions all need the same trace
structure of the same (often 100k) operations: each operation's parent span, the operations
of each trace, the handoff links and the critical paths. :func:`index_for` builds an
:class:`OpIndex` once for an operations list and hands the same one back while it is called with
a list holding the same operation objects in the same order (a copy of the list included); the
derived parts (links, critical paths, ...) are computed on first use and kept on the index.

The index holds one entry (the last list seen), replaced atomically, so concurrent callers never
mix two lists' results. Operations are expected not to change identity fields (trace, span and
parent ids, ``is_entry``, ``entry_span_id``) once analysed; agent detection sets the latter two
before any other analysis sees the operations.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from llamonitor.analytics.agents.models import AgentOperation


class OpIndex:
    """Trace structure of one operations list (see the module doc); derived parts are lazy."""

    __slots__ = ("cache", "ops", "parents", "spans", "traces", "unique")

    def __init__(self, operations: Sequence[AgentOperation]) -> None:
        ops = tuple(operations)
        #: the operations, as given
        self.ops: tuple[AgentOperation, ...] = ops
        #: trace id -> span id -> operation (the last one given, for a repeated span id)
        self.spans: dict[str, dict[str, AgentOperation]] = {}
        #: trace id -> its operations, in the order given (traces in order of first appearance)
        self.traces: dict[str, list[AgentOperation]] = {}
        spans, traces = self.spans, self.traces
        for o in ops:
            d = spans.get(o.trace_id)
            if d is None:
                spans[o.trace_id] = {o.span_id: o}
                traces[o.trace_id] = [o]
            else:
                d[o.span_id] = o
                traces[o.trace_id].append(o)
        #: whether span ids are unique within each trace
        self.unique: bool = sum(map(len, spans.values())) == len(ops)
        #: per operation (same order): the operation of its parent span in the same trace, if any
        self.parents: list[AgentOperation | None] = [
            spans[o.trace_id].get(o.parent_span_id) if o.parent_span_id else None for o in ops]
        #: derived results by name (links, critical paths, ...), filled by their builders
        self.cache: dict[str, Any] = {}

    def matches(self, operations: Sequence[AgentOperation]) -> bool:
        """Whether ``operations`` holds exactly this index's operation objects, in order."""
        ops = self.ops
        return len(ops) == len(operations) and all(map(operator.is_, ops, operations))


class _LastIndex:
    __slots__ = ("entry",)

    def __init__(self) -> None:
        self.entry: OpIndex | None = None


_last = _LastIndex()


def index_for(operations: Sequence[AgentOperation], *, fresh: bool = False) -> OpIndex:
    """The :class:`OpIndex` of ``operations`` (reused while the same operations are passed).

    ``fresh`` builds a new one (agent detection, which has just created or re-marked them).
    """
    idx = _last.entry
    if fresh or idx is None or not idx.matches(operations):
        idx = OpIndex(operations)
        _last.entry = idx
    return idx


def entries_by_agent(idx: OpIndex) -> dict[str, list[AgentOperation]]:
    """The invocations (entry operations) of each agent, in order (shared, not to be modified)."""
    got: dict[str, list[AgentOperation]] | None = idx.cache.get("entries_by_agent")
    if got is None:
        got = {}
        for o in idx.ops:
            if o.is_entry:
                inv = got.get(o.agent_name)
                if inv is None:
                    got[o.agent_name] = [o]
                else:
                    inv.append(o)
        idx.cache["entries_by_agent"] = got
    return got


def entry_latencies(idx: OpIndex) -> dict[str, list[float]]:
    """Each agent's invocation wall times (``duration_ms``), sorted (shared, not to be modified)."""
    got: dict[str, list[float]] | None = idx.cache.get("entry_latencies")
    if got is None:
        duration = operator.attrgetter("duration_ms")
        got = idx.cache["entry_latencies"] = {
            name: sorted(map(duration, inv)) for name, inv in entries_by_agent(idx).items()}
    return got
