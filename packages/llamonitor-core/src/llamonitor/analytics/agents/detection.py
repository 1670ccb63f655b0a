"""Agents and their operations, from the identities recorded on events.

Identity order of precedence, reported on every operation and profile as ``identity_source``:

1. ``recorded``: the event's :class:`~llamonitor.schema.events.AgentIdentity` (``agent_name``,
   else ``agent_id``), set by a framework adapter or :func:`~llamonitor.monitoring_agent`;
2. ``inherited``: the nearest ancestor span with a recorded identity;
3. ``inferred``: only for events with neither, a keyword in the operation name
   (``classify_intent`` -> a ``classifier``). Events matching no keyword are not agent work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from operator import attrgetter
from typing import Any

from llamonitor.analytics.agents.index import entries_by_agent, entry_latencies, index_for
from llamonitor.analytics.agents.models import AgentOperation, AgentProfile, IdentitySource, gc_paused, percentile
from llamonitor.schema.events import MetricEvent

#: (role, keywords) tried in order on the lower-cased operation name, for events without identity.
ROLE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("router", ("router", "route", "dispatch")),
    ("classifier", ("classif", "intent", "categor", "triage")),
    ("summarizer", ("summar",)),
    ("retriever", ("retriev", "search", "lookup", "rag_", "knowledge", "fetch")),
    ("planner", ("planner", "plan_", "_plan")),
    ("validator", ("validat", "verif", "review", "critic", "judge")),
    ("escalation", ("escalat",)),
    ("generator", ("generat", "respon", "answer", "reply", "draft", "compose", "synthes", "writer")),
)

_MAX_ANCESTRY = 64


def infer_role(operation_name: str) -> str | None:
    """The role a keyword in ``operation_name`` suggests, or ``None``."""
    name = operation_name.lower()
    for role, keywords in ROLE_KEYWORDS:
        if any(k in name for k in keywords):
            return role
    return None


def _tokens(event: MetricEvent) -> int:
    if event.usage is not None and event.usage.total_tokens is not None:
        return event.usage.total_tokens
    if event.usage is not None and (event.usage.input_tokens or event.usage.output_tokens):
        return (event.usage.input_tokens or 0) + (event.usage.output_tokens or 0)
    tm = event.text_metrics
    return tm.total_tokens or 0 if tm is not None else 0


def separate_reused_traces(events: Sequence[MetricEvent]) -> Sequence[MetricEvent]:
    """``events`` with a trace id that several sessions use renamed ``<session>/<trace>`` in each.

    A trace is a ``(session_id, trace_id)`` pair (user-given ids such as ``"conversation-1"``
    repeat across sessions); the analyses key traces by ``trace_id``, so the colliding ones get
    a name of their own. Unchanged (same list) when no trace id is shared.
    """
    session_of: dict[str, str] = {}
    shared: set[str] = set()
    for e in events:
        seen = session_of.setdefault(e.trace_id, e.session_id)
        if seen != e.session_id:
            shared.add(e.trace_id)
    if not shared:
        return events
    return [replace(e, trace_id=f"{e.session_id}/{e.trace_id}") if e.trace_id in shared else e for e in events]


def build_operations(events: Sequence[MetricEvent]) -> list[AgentOperation]:
    """Attribute each event to an agent (see the module doc) and mark invocation boundaries."""
    events = separate_reused_traces(events)
    ops: list[AgentOperation] = []
    append = ops.append
    anonymous: list[MetricEvent] = []
    recorded = IdentitySource.RECORDED
    for e in events:
        a = e.agent
        if a is not None and (a.agent_name or a.agent_id):
            # _operation() inlined: this loop runs once per event
            cost = e.cost
            usage = e.usage
            if usage is not None and usage.total_tokens is not None:
                tokens = usage.total_tokens
            else:
                tokens = _tokens(e)
            append(AgentOperation(
                e.event_id, e.span_id, e.parent_span_id, e.trace_id, e.session_id, e.operation_name,
                e.operation_type, a.agent_name or a.agent_id or "", a.agent_role, a.framework, recorded,
                e.start_time_ns, e.end_time_ns, float(e.duration_ms), not e.error, True, "", 0.0, e.input_content,
                e.output_content, a.handoff_from, a.graph_step,
                float(cost.total_cost_usd) if cost is not None and cost.total_cost_usd is not None else 0.0,
                tokens))
        else:
            anonymous.append(e)
    if anonymous:
        ops.extend(_attribute_anonymous(events, anonymous))
    mark_invocations(ops)
    return ops


def _operation(e: MetricEvent, name: str, role: str | None, framework: str | None, source: IdentitySource,
               handoff_from: str | None = None, step: int | None = None) -> AgentOperation:
    cost = e.cost.total_cost_usd if e.cost is not None and e.cost.total_cost_usd is not None else 0.0
    return AgentOperation(
        e.event_id, e.span_id, e.parent_span_id, e.trace_id, e.session_id, e.operation_name, e.operation_type,
        name, role, framework, source, e.start_time_ns, e.end_time_ns, float(e.duration_ms), not e.error,
        True, "", 0.0, e.input_content, e.output_content, handoff_from, step, float(cost), _tokens(e))


def _attribute_anonymous(events: Sequence[MetricEvent], anonymous: Sequence[MetricEvent]) -> list[AgentOperation]:
    """Events without identity: the nearest recorded ancestor's, else a name keyword, else none."""
    by_span: dict[tuple[str, str], MetricEvent] = {(e.trace_id, e.span_id): e for e in events}
    ops: list[AgentOperation] = []
    for e in anonymous:
        parent = e.parent_span_id
        hops = 0
        found: MetricEvent | None = None
        while parent is not None and hops < _MAX_ANCESTRY:
            pe = by_span.get((e.trace_id, parent))
            if pe is None:
                break
            if pe.agent is not None and (pe.agent.agent_name or pe.agent.agent_id):
                found = pe
                break
            parent = pe.parent_span_id
            hops += 1
        if found is not None and found.agent is not None:
            a = found.agent
            ops.append(_operation(e, a.agent_name or a.agent_id or "", a.agent_role, a.framework,
                                  IdentitySource.INHERITED))
            continue
        role = infer_role(e.operation_name)
        if role is not None:
            ops.append(_operation(e, e.operation_name, role, None, IdentitySource.INFERRED))
    return ops


def mark_invocations(ops: Sequence[AgentOperation]) -> None:
    """Set ``is_entry``, ``entry_span_id`` and (for entries) ``self_time_ms`` on ``ops`` in place."""
    idx = index_for(ops, fresh=True)
    spans_of = idx.spans
    resolved: dict[tuple[str, str], str] = {}

    def entry_of(op: AgentOperation) -> str:
        chain: list[AgentOperation] = []
        cur: AgentOperation | None = op
        result = ""
        while cur is not None:
            key = (cur.trace_id, cur.span_id)
            if key in resolved:
                result = resolved[key]
                break
            chain.append(cur)
            parent = spans_of[cur.trace_id].get(cur.parent_span_id) if cur.parent_span_id else None
            if parent is None or parent.agent_name != cur.agent_name or len(chain) > _MAX_ANCESTRY:
                result = cur.span_id
                break
            cur = parent
        for c in chain:
            resolved[(c.trace_id, c.span_id)] = result
        return result

    # The common case, an operation whose parent is another agent's (or none), is its own entry.
    # Not recording it in ``resolved`` is equivalent (a chain reaching it stops there) unless span
    # ids repeat within a trace; then every operation takes the full walk.
    unique = idx.unique
    for op, parent in zip(ops, idx.parents, strict=True):
        if unique and (parent is None or parent.agent_name != op.agent_name):
            op.entry_span_id = op.span_id
            op.is_entry = True
        else:
            op.entry_span_id = entry_of(op)
            op.is_entry = op.entry_span_id == op.span_id
    # Self time of an invocation: its wall time minus the time covered by nested invocations of
    # other agents (clipped to its window, overlaps merged).
    for op in ops:
        op.self_time_ms = op.duration_ms
    nested: dict[Any, tuple[AgentOperation | None, list[tuple[int, int]]]] = {}
    for op, parent in zip(ops, idx.parents, strict=True):
        if parent is not None and op.is_entry:
            if unique:
                # the invocation owning the parent span (with unique span ids, the one operation with
                # that span id; it is an entry)
                owner = parent if parent.is_entry else spans_of[op.trace_id][parent.entry_span_id]
                key: Any = id(owner)
            else:
                owner, key = None, (op.trace_id, parent.entry_span_id)
            got = nested.get(key)
            if got is None:
                nested[key] = (owner, [(op.start_ns, op.end_ns)])
            else:
                got[1].append((op.start_ns, op.end_ns))
    if unique:
        for owner, spans in nested.values():
            if owner is not None and owner.is_entry:
                _set_self_time(owner, spans)
    elif nested:
        for op in ops:
            got = nested.get((op.trace_id, op.span_id)) if op.is_entry else None
            if got is not None:
                _set_self_time(op, got[1])


def _set_self_time(op: AgentOperation, spans: list[tuple[int, int]]) -> None:
    lo, hi = op.start_ns, op.end_ns
    covered = 0
    cur_s = cur_e = None
    for s, e in sorted([(s if s > lo else lo, e if e < hi else hi) for s, e in spans]):
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_s is not None and cur_e is not None:
                covered += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_s is not None and cur_e is not None:
        covered += cur_e - cur_s
    op.self_time_ms = max(0.0, op.duration_ms - covered / 1e6)


_success = attrgetter("success")
_tokens_of = attrgetter("tokens")
_cost_of = attrgetter("cost_usd")
_op_name = attrgetter("operation_name")
_session = attrgetter("session_id")
_source = attrgetter("identity_source")
_role = attrgetter("agent_role")
_framework = attrgetter("framework")


def build_profiles(ops: Sequence[AgentOperation]) -> list[AgentProfile]:
    """One profile per agent, busiest first (see :class:`AgentProfile`)."""
    groups: dict[str, list[AgentOperation]] = defaultdict(list)
    for op in ops:
        groups[op.agent_name].append(op)
    idx = index_for(ops)
    collab: dict[str, set[str]] = defaultdict(set)
    for child, parent in {(op.agent_name, parent.agent_name)
                          for op, parent in zip(ops, idx.parents, strict=True)
                          if parent is not None and op.is_entry}:
        collab[child].add(parent)
        collab[parent].add(child)
    invocations = entries_by_agent(idx)
    sorted_latencies = entry_latencies(idx)
    profiles: list[AgentProfile] = []
    for name, group in groups.items():
        entries = invocations.get(name, [])
        latencies = sorted_latencies.get(name, [])
        errors = len(entries) - sum(map(_success, entries))
        first = group[0]
        sources = set(map(_source, group))
        source = (IdentitySource.RECORDED if IdentitySource.RECORDED in sources else
                  IdentitySource.INHERITED if IdentitySource.INHERITED in sources else IdentitySource.INFERRED)
        profiles.append(AgentProfile(
            agent_name=name, agent_id=None, agent_role=next(filter(None, map(_role, group)), None),
            framework=next(filter(None, map(_framework, group)), first.framework), identity_source=source,
            invocations=len(entries), operations=len(group), errors=errors,
            success_rate=(len(entries) - errors) / len(entries) if entries else 1.0,
            avg_latency_ms=sum(latencies) / len(latencies) if latencies else 0.0,
            p50_latency_ms=percentile(latencies, 50), p95_latency_ms=percentile(latencies, 95),
            total_tokens=sum(map(_tokens_of, group)), total_cost_usd=sum(map(_cost_of, group)),
            operation_names=sorted(set(map(_op_name, group))),
            sessions=len(set(map(_session, group))), collaborators=sorted(collab.get(name, set()))))
    profiles.sort(key=lambda p: (-p.invocations, p.agent_name))
    return profiles


class AgentDetector:
    """Finds the agents in a set of events and profiles them.

    ``await detector.detect_agents(events, auto_register=True)`` returns one
    :class:`AgentProfile` per agent; ``await detector.detect_agent_operations(events)`` returns the
    :class:`AgentOperation` list the other analyses take. Identities come from the recorded
    fields; inference from operation names is the fallback, marked ``identity_source="inferred"``.
    """

    def __init__(self) -> None:
        #: agents registered by ``detect_agents(..., auto_register=True)``, by name (latest profile)
        self.registry: dict[str, AgentProfile] = {}
        # The last events object seen (a reference, so its id cannot be reused) and its operations:
        # detect_agents and detect_agent_operations on the same list share one pass.
        self._cache: tuple[Sequence[MetricEvent], int, list[AgentOperation]] | None = None

    def _operations(self, events: Sequence[MetricEvent]) -> list[AgentOperation]:
        if self._cache is not None and self._cache[0] is events and self._cache[1] == len(events):
            return self._cache[2]
        ops = build_operations(events)
        self._cache = (events, len(events), ops)
        return ops

    @gc_paused
    def detect_agents_sync(self, events: Sequence[MetricEvent], auto_register: bool = False) -> list[AgentProfile]:
        """Synchronous :meth:`detect_agents`."""
        profiles = build_profiles(self._operations(events))
        if auto_register:
            for p in profiles:
                self.registry[p.agent_name] = p
        return profiles

    async def detect_agents(self, events: Sequence[MetricEvent], auto_register: bool = False) -> list[AgentProfile]:
        """Agents seen in ``events``, busiest first; ``auto_register`` also stores them in :attr:`registry`."""
        return self.detect_agents_sync(events, auto_register)

    @gc_paused
    def detect_agent_operations_sync(self, events: Sequence[MetricEvent]) -> list[AgentOperation]:
        """Synchronous :meth:`detect_agent_operations`."""
        return list(self._operations(events))

    async def detect_agent_operations(self, events: Sequence[MetricEvent]) -> list[AgentOperation]:
        """Every event attributed to an agent, as :class:`AgentOperation` (events of no agent are left out)."""
        return self.detect_agent_operations_sync(events)

    def get_agent(self, name: str) -> AgentProfile | None:
        """A registered agent by name."""
        return self.registry.get(name)
