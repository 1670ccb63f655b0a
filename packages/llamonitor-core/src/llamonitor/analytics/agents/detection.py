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


def build_operations(events: Sequence[MetricEvent]) -> list[AgentOperation]:
    """Attribute each event to an agent (see the module doc) and mark invocation boundaries."""
    ops: list[AgentOperation] = []
    anonymous: list[MetricEvent] = []
    for e in events:
        a = e.agent
        if a is not None and (a.agent_name or a.agent_id):
            ops.append(_operation(e, a.agent_name or a.agent_id or "", a.agent_role, a.framework,
                                  IdentitySource.RECORDED, a.handoff_from, a.graph_step))
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
    by_span = {(o.trace_id, o.span_id): o for o in ops}
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
            parent = by_span.get((cur.trace_id, cur.parent_span_id)) if cur.parent_span_id else None
            if parent is None or parent.agent_name != cur.agent_name or len(chain) > _MAX_ANCESTRY:
                result = cur.span_id
                break
            cur = parent
        for c in chain:
            resolved[(c.trace_id, c.span_id)] = result
        return result

    for op in ops:
        op.entry_span_id = entry_of(op)
        op.is_entry = op.entry_span_id == op.span_id
    # Self time of an invocation: its wall time minus the time covered by nested invocations of
    # other agents (clipped to its window, overlaps merged).
    nested: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for op in ops:
        if op.is_entry and op.parent_span_id:
            parent = by_span.get((op.trace_id, op.parent_span_id))
            if parent is not None:
                nested[(op.trace_id, parent.entry_span_id)].append((op.start_ns, op.end_ns))
    for op in ops:
        if not op.is_entry:
            op.self_time_ms = op.duration_ms
            continue
        spans = nested.get((op.trace_id, op.span_id))
        if not spans:
            op.self_time_ms = op.duration_ms
            continue
        covered = 0
        cur_s = cur_e = None
        for s, e in sorted((max(s, op.start_ns), min(e, op.end_ns)) for s, e in spans):
            if e <= s:
                continue
            if cur_e is None or s > cur_e:
                if cur_s is not None and cur_e is not None:
                    covered += cur_e - cur_s
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        if cur_s is not None and cur_e is not None:
            covered += cur_e - cur_s
        op.self_time_ms = max(0.0, op.duration_ms - covered / 1e6)


def build_profiles(ops: Sequence[AgentOperation]) -> list[AgentProfile]:
    """One profile per agent, busiest first (see :class:`AgentProfile`)."""
    groups: dict[str, list[AgentOperation]] = defaultdict(list)
    for op in ops:
        groups[op.agent_name].append(op)
    by_span = {(o.trace_id, o.span_id): o for o in ops}
    collab: dict[str, set[str]] = defaultdict(set)
    for op in ops:
        if op.is_entry and op.parent_span_id:
            parent = by_span.get((op.trace_id, op.parent_span_id))
            if parent is not None:
                collab[op.agent_name].add(parent.agent_name)
                collab[parent.agent_name].add(op.agent_name)
    profiles: list[AgentProfile] = []
    for name, group in groups.items():
        entries = [o for o in group if o.is_entry]
        latencies = sorted(o.duration_ms for o in entries)
        errors = sum(1 for o in entries if not o.success)
        first = group[0]
        sources = {o.identity_source for o in group}
        source = (IdentitySource.RECORDED if IdentitySource.RECORDED in sources else
                  IdentitySource.INHERITED if IdentitySource.INHERITED in sources else IdentitySource.INFERRED)
        profiles.append(AgentProfile(
            agent_name=name, agent_id=None, agent_role=next((o.agent_role for o in group if o.agent_role), None),
            framework=next((o.framework for o in group if o.framework), first.framework), identity_source=source,
            invocations=len(entries), operations=len(group), errors=errors,
            success_rate=(len(entries) - errors) / len(entries) if entries else 1.0,
            avg_latency_ms=sum(latencies) / len(latencies) if latencies else 0.0,
            p50_latency_ms=percentile(latencies, 50), p95_latency_ms=percentile(latencies, 95),
            total_tokens=sum(o.tokens for o in group), total_cost_usd=sum(o.cost_usd for o in group),
            operation_names=sorted({o.operation_name for o in group}),
            sessions=len({o.session_id for o in group}), collaborators=sorted(collab.get(name, set()))))
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
