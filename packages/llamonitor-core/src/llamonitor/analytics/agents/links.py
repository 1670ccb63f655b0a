"""Trace structure shared by the analyses: handoff links between invocations and critical paths.

A *handoff link* joins two agent invocations (entry operations) of one trace:

* ``delegation``: the target's parent span belongs to an invocation of another agent (the source);
* ``sequence``: the target's closest predecessor under the same parent invocation (the sibling that
  finished last before the target started) belongs to another agent;
* ``explicit``: the target's recorded ``agent.handoff_from`` names the source agent (its latest
  invocation in the trace that started before the target). An explicit link replaces a
  delegation / sequence link between the same two invocations rather than doubling it.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from llamonitor.analytics.agents.models import AgentOperation, HandoffKind

#: a sibling counts as finished before the next one starts within this tolerance (clock jitter)
SEQUENCE_TOLERANCE_NS = 500_000


@dataclass(slots=True)
class Link:
    """A raw handoff link (before scoring). ``gap_ms`` is the hand-over delay (see docs)."""

    source: AgentOperation
    target: AgentOperation
    kind: HandoffKind
    gap_ms: float


def _key(op: AgentOperation) -> tuple[str, str]:
    return (op.trace_id, op.span_id)


class _LastCall:
    """Remembers the result for the last operations list (held, so its id cannot be reused).

    The analyses pass the same list along (handoffs, drift, graph, bottlenecks); this keeps
    them from recomputing the links and critical paths of 100k operations three times. The
    entry is one tuple, replaced atomically, so concurrent callers never mix two lists' results.
    """

    __slots__ = ("entry",)

    def __init__(self) -> None:
        self.entry: tuple[Sequence[AgentOperation], tuple[int, int, int], Any] | None = None

    def get(self, operations: Sequence[AgentOperation]) -> Any:
        entry = self.entry
        if entry is not None and entry[0] is operations and entry[1] == _fingerprint(operations):
            return entry[2]
        return None

    def put(self, operations: Sequence[AgentOperation], value: Any) -> None:
        self.entry = (operations, _fingerprint(operations), value)


def _fingerprint(operations: Sequence[AgentOperation]) -> tuple[int, int, int]:
    n = len(operations)
    return (n, id(operations[0]) if n else 0, id(operations[-1]) if n else 0)


_links_cache = _LastCall()
_paths_cache = _LastCall()


def find_handoff_links(operations: Sequence[AgentOperation]) -> list[Link]:
    """Every handoff link between agent invocations in ``operations``, in time order."""
    cached = _links_cache.get(operations)
    if cached is not None:
        return list(cached)
    links = _find_links(operations)
    _links_cache.put(operations, links)
    return list(links)


def _find_links(operations: Sequence[AgentOperation]) -> list[Link]:
    by_span = {(o.trace_id, o.span_id): o for o in operations}
    entries = [o for o in operations if o.is_entry]
    groups: dict[tuple[str, str | None], list[AgentOperation]] = defaultdict(list)
    parent_inv: dict[int, AgentOperation] = {}
    for op in entries:
        parent = by_span.get((op.trace_id, op.parent_span_id)) if op.parent_span_id else None
        if parent is not None:
            inv = by_span.get((op.trace_id, parent.entry_span_id), parent)
            parent_inv[id(op)] = inv
            groups[(op.trace_id, inv.span_id)].append(op)
        else:
            groups[(op.trace_id, None)].append(op)
    links: list[Link] = []
    delegation, sequence = HandoffKind.DELEGATION, HandoffKind.SEQUENCE
    for group in groups.values():
        group.sort(key=lambda o: (o.start_ns, o.end_ns))
        ended: list[tuple[int, int, AgentOperation]] = []
        latest: AgentOperation | None = None
        for i, op in enumerate(group):
            start = op.start_ns
            while ended and ended[0][0] <= start + SEQUENCE_TOLERANCE_NS:
                latest = heapq.heappop(ended)[2]
            owner = parent_inv.get(id(op))
            if owner is not None:
                since = owner.start_ns if latest is None or latest.end_ns < owner.start_ns else latest.end_ns
                links.append(Link(owner, op, delegation, max(0, start - since) / 1e6))
            if latest is not None and latest.agent_name != op.agent_name:
                links.append(Link(latest, op, sequence, max(0, start - latest.end_ns) / 1e6))
            heapq.heappush(ended, (op.end_ns, i, op))
    _add_explicit(entries, links)
    links.sort(key=lambda lk: (lk.target.start_ns, lk.source.start_ns))
    return links


def _add_explicit(entries: Sequence[AgentOperation], links: list[Link]) -> None:
    explicit = [o for o in entries if o.handoff_from]
    if not explicit:
        return
    existing = {(id(lk.source), id(lk.target)): lk for lk in links}
    by_trace_agent: dict[tuple[str, str], list[AgentOperation]] = defaultdict(list)
    for o in entries:
        by_trace_agent[(o.trace_id, o.agent_name)].append(o)
    for target in explicit:
        candidates = [o for o in by_trace_agent.get((target.trace_id, target.handoff_from or ""), [])
                      if o.start_ns <= target.start_ns and o is not target]
        if not candidates:
            continue
        source = max(candidates, key=lambda o: (o.end_ns <= target.start_ns, o.start_ns))
        found = existing.get((id(source), id(target)))
        if found is not None:
            found.kind = HandoffKind.EXPLICIT
        else:
            links.append(Link(source, target, HandoffKind.EXPLICIT, max(0, target.start_ns - source.end_ns) / 1e6))


def by_trace(operations: Iterable[AgentOperation]) -> dict[str, list[AgentOperation]]:
    """Operations grouped by trace id, each list sorted by start time."""
    groups: dict[str, list[AgentOperation]] = defaultdict(list)
    for o in operations:
        groups[o.trace_id].append(o)
    for g in groups.values():
        g.sort(key=lambda o: o.start_ns)
    return dict(groups)


def critical_path(trace_ops: Sequence[AgentOperation]) -> list[tuple[str, int, int]]:
    """The critical path of one trace as ``(agent, start_ns, end_ns)`` segments in time order.

    Walking back from the end of each span, the child that finished last is on the critical path,
    then the child that finished last before that one started, and so on (as in Jaeger); the
    rest of the span's window is its own time. Top-level spans are treated as children of one
    virtual span covering the trace; idle time between them belongs to no agent.
    """
    if not trace_ops:
        return []
    by_span = {o.span_id: o for o in trace_ops}
    children: dict[str | None, list[AgentOperation]] = defaultdict(list)
    for o in trace_ops:
        parent = o.parent_span_id if o.parent_span_id in by_span else None
        children[parent].append(o)
    for c in children.values():
        c.sort(key=lambda o: o.end_ns, reverse=True)
    segments: list[tuple[str, int, int]] = []
    # explicit stack of (span or None for the virtual root, window start, window end)
    start = min(o.start_ns for o in trace_ops)
    end = max(o.end_ns for o in trace_ops)
    stack: list[tuple[AgentOperation | None, int, int]] = [(None, start, end)]
    visited: set[str] = set()
    while stack:
        span, lo, hi = stack.pop()
        if span is not None:
            if span.span_id in visited:
                continue
            visited.add(span.span_id)
        cursor = hi
        for child in children.get(span.span_id if span is not None else None, []):
            c_end = min(child.end_ns, cursor)
            c_start = max(child.start_ns, lo)
            if c_end <= c_start or child.span_id in visited:
                continue
            if span is not None and cursor > c_end:
                segments.append((span.agent_name, c_end, cursor))
            stack.append((child, c_start, c_end))
            cursor = c_start
            if cursor <= lo:
                break
        if span is not None and cursor > lo:
            segments.append((span.agent_name, lo, cursor))
    segments.sort(key=lambda s: s[1])
    return segments


def longest_chain(links: Sequence[Link]) -> int:
    """The most invocations on one chain of links.

    Links point forward in time and come sorted by target start, so walking them from the last
    to the first, every target's chain length is final before its sources use it.
    """
    if not links:
        return 0
    depth: dict[int, int] = {}
    best = 1
    for lk in reversed(links):
        d = 1 + depth.get(id(lk.target), 1)
        s = id(lk.source)
        if d > depth.get(s, 1):
            depth[s] = d
            if d > best:
                best = d
    return best
