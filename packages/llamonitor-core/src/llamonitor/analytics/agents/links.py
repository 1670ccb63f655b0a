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
from collections.abc import Callable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from llamonitor.analytics.agents.index import OpIndex, index_for
from llamonitor.analytics.agents.models import AgentOperation, HandoffKind

#: a sibling counts as finished before the next one starts within this tolerance (clock jitter)
SEQUENCE_TOLERANCE_NS = 500_000

#: A raw handoff link (before scoring): ``(target start_ns, source start_ns, source, target, kind,
#: gap_ms)``; ``gap_ms`` is the hand-over delay (see docs). Links are kept sorted by the first two.
Link = tuple[int, int, AgentOperation, AgentOperation, HandoffKind, float]
_link_order = itemgetter(0, 1)
#: one critical-path segment: (agent, start_ns, end_ns)
Segment = tuple[str, int, int]


class Links:
    """Handoff links in time order, as columns (one list per field, the same length).

    Columns rather than one tuple per link: the links of 100k operations are kept for every
    analysis of them, and four lists cost the garbage collector far less than 170k tuples.
    """

    __slots__ = ("gaps", "kinds", "sources", "targets")

    def __init__(self, links: Sequence[Link]) -> None:
        #: source invocations
        self.sources: list[AgentOperation] = list(map(itemgetter(2), links))
        #: target invocations
        self.targets: list[AgentOperation] = list(map(itemgetter(3), links))
        #: link kinds
        self.kinds: list[HandoffKind] = list(map(itemgetter(4), links))
        #: hand-over delays (ms)
        self.gaps: list[float] = list(map(itemgetter(5), links))

    def __len__(self) -> int:
        return len(self.sources)


def find_handoff_links(operations: Sequence[AgentOperation]) -> list[Link]:
    """Every handoff link between agent invocations in ``operations``, in time order."""
    lk = links_of(index_for(operations))
    return [(t.start_ns, s.start_ns, s, t, k, g) for s, t, k, g in zip(lk.sources, lk.targets, lk.kinds, lk.gaps,
                                                                       strict=True)]


def links_of(idx: OpIndex) -> Links:
    """The (shared, not to be modified) handoff links of an indexed operations list."""
    links: Links | None = idx.cache.get("links")
    if links is None:
        links = idx.cache["links"] = Links(_find_links(idx))
    return links


def _find_links(idx: OpIndex) -> list[Link]:
    spans = idx.spans
    entries: list[AgentOperation] = []
    # per group (trace, invocation that owns the parent span or None): (start, end, position, op, owner)
    groups: dict[tuple[str, str | None], list[tuple[int, int, int, AgentOperation, AgentOperation | None]]] = {}
    for i, (op, parent) in enumerate(zip(idx.ops, idx.parents, strict=True)):
        if not op.is_entry:
            continue
        entries.append(op)
        if parent is not None:
            inv = spans[op.trace_id].get(parent.entry_span_id, parent)
            key: tuple[str, str | None] = (op.trace_id, inv.span_id)
        else:
            inv = None
            key = (op.trace_id, None)
        group = groups.get(key)
        if group is None:
            groups[key] = [(op.start_ns, op.end_ns, i, op, inv)]
        else:
            group.append((op.start_ns, op.end_ns, i, op, inv))
    links: list[Link] = []
    append = links.append
    heappush, heappop = heapq.heappush, heapq.heappop
    delegation, sequence = HandoffKind.DELEGATION, HandoffKind.SEQUENCE
    tolerance = SEQUENCE_TOLERANCE_NS
    for group in groups.values():
        if len(group) > 1:
            group.sort()
        ended: list[tuple[int, int, AgentOperation]] = []
        latest: AgentOperation | None = None
        for j, (start, end, _, op, owner) in enumerate(group):
            while ended and ended[0][0] <= start + tolerance:
                latest = heappop(ended)[2]
            if owner is not None:
                since = owner.start_ns if latest is None or latest.end_ns < owner.start_ns else latest.end_ns
                append((start, owner.start_ns, owner, op, delegation, max(0, start - since) / 1e6))
            if latest is not None and latest.agent_name != op.agent_name:
                append((start, latest.start_ns, latest, op, sequence, max(0, start - latest.end_ns) / 1e6))
            heappush(ended, (end, j, op))
    _add_explicit(entries, links)
    links.sort(key=_link_order)  # stable: ties stay in the order found
    return links


def _add_explicit(entries: Sequence[AgentOperation], links: list[Link]) -> None:
    explicit = [o for o in entries if o.handoff_from]
    if not explicit:
        return
    existing = {(id(lk[2]), id(lk[3])): pos for pos, lk in enumerate(links)}
    by_trace_agent: dict[tuple[str, str], list[AgentOperation]] = defaultdict(list)
    for o in entries:
        by_trace_agent[(o.trace_id, o.agent_name)].append(o)
    for target in explicit:
        candidates = [o for o in by_trace_agent.get((target.trace_id, target.handoff_from or ""), [])
                      if o.start_ns <= target.start_ns and o is not target]
        if not candidates:
            continue
        source = max(candidates, key=lambda o: (o.end_ns <= target.start_ns, o.start_ns))
        pos = existing.get((id(source), id(target)))
        if pos is not None:
            lk = links[pos]
            links[pos] = (lk[0], lk[1], lk[2], lk[3], HandoffKind.EXPLICIT, lk[5])
        else:
            links.append((target.start_ns, source.start_ns, source, target, HandoffKind.EXPLICIT,
                          max(0, target.start_ns - source.end_ns) / 1e6))


def critical_paths_of(idx: OpIndex) -> dict[str, list[Segment]]:
    """Critical-path segments of every trace of an indexed list (shared, not to be modified)."""
    cached: dict[str, list[Segment]] | None = idx.cache.get("paths")
    if cached is not None:
        return cached
    paths: dict[str, list[Segment]] = {}
    for trace, ops in idx.traces.items():
        spans = idx.spans[trace]
        # children by parent span id (None: top level, or a parent not in the trace), in input order
        children: dict[str | None, list[AgentOperation]] = {}
        for o in ops:
            pid = o.parent_span_id
            if pid not in spans:
                pid = None
            c = children.get(pid)
            if c is None:
                children[pid] = [o]
            else:
                c.append(o)
        paths[trace] = _walk(min(map(_start, ops)), max(map(_end, ops)), children)
    idx.cache["paths"] = paths
    return paths


def critical_time(idx: OpIndex) -> tuple[dict[str, float], dict[str, int]]:
    """Critical-path milliseconds per agent over every trace, and each trace's critical-path ns
    (shared, not to be modified)."""
    got: tuple[dict[str, float], dict[str, int]] | None = idx.cache.get("critical_time")
    if got is None:
        by_agent: dict[str, float] = {}
        totals: dict[str, int] = {}
        get = by_agent.get
        for trace, segments in critical_paths_of(idx).items():
            total = 0
            for agent, s, e in segments:
                total += e - s
                by_agent[agent] = get(agent, 0.0) + (e - s) / 1e6
            totals[trace] = total
        got = idx.cache["critical_time"] = (by_agent, totals)
    return got


_start = attrgetter("start_ns")
_end = attrgetter("end_ns")


def _child_order(o: AgentOperation) -> tuple[int, int]:
    return (-o.end_ns, o.start_ns)


def critical_path(trace_ops: Sequence[AgentOperation]) -> list[Segment]:
    """The critical path of one trace as ``(agent, start_ns, end_ns)`` segments in time order.

    Walking back from the end of each span, the child that finished last is on the critical path,
    then the child that finished last before that one started, and so on (as in Jaeger); the
    rest of the span's window is its own time. Top-level spans are treated as children of one
    virtual span covering the trace; idle time between them belongs to no agent.
    """
    if not trace_ops:
        return []
    spans = {o.span_id for o in trace_ops}
    children: dict[str | None, list[AgentOperation]] = defaultdict(list)
    for o in trace_ops:
        children[o.parent_span_id if o.parent_span_id in spans else None].append(o)
    return _walk(min(o.start_ns for o in trace_ops), max(o.end_ns for o in trace_ops), children, _end_desc)


def _end_desc(o: AgentOperation) -> int:
    return -o.end_ns


def _walk(start: int, end: int, children: dict[str | None, list[AgentOperation]],
          order: Callable[[AgentOperation], Any] = _child_order) -> list[Segment]:
    """:func:`critical_path` on a trace's children lists (sorted here in place by ``order``: latest end
    first; by default ties by start, then by position, which is what a start-sorted list gives)."""
    for c in children.values():
        if len(c) > 1:
            c.sort(key=order)
    segments: list[Segment] = []
    # explicit stack of (span or None for the virtual root, window start, window end)
    stack: list[tuple[AgentOperation | None, int, int]] = [(None, start, end)]
    visited: set[str] = set()
    get = children.get
    while stack:
        span, lo, hi = stack.pop()
        if span is not None:
            if span.span_id in visited:
                continue
            visited.add(span.span_id)
            kids = get(span.span_id)
        else:
            kids = get(None)
        cursor = hi
        if kids:
            for child in kids:
                c_end = child.end_ns
                if c_end > cursor:
                    c_end = cursor
                c_start = child.start_ns
                if c_start < lo:
                    c_start = lo
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
    segments.sort(key=_seg_start)
    return segments


def _seg_start(s: Segment) -> int:
    return s[1]


def longest_chain(links: Links) -> int:
    """The most invocations on one chain of links.

    Links point forward in time and come sorted by target start, so walking them from the last
    to the first, every target's chain length is final before its sources use it.
    """
    if not links:
        return 0
    depth: dict[int, int] = {}
    get = depth.get
    best = 1
    for src, dst in zip(reversed(links.sources), reversed(links.targets), strict=True):
        d = 1 + get(id(dst), 1)
        s = id(src)
        if d > get(s, 1):
            depth[s] = d
            if d > best:
                best = d
    return best
