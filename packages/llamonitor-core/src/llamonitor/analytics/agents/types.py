"""What part each agent plays in a workflow (the seed's ``AgentType``), from its handoffs.

Rules, first match wins (``docs/analytics.md``):

1. ``FALLBACK``: its name or role mentions fallback, escalation, backup or recovery;
2. ``COORDINATOR``: it delegates to (calls, inside its own invocation) two or more other agents;
3. ``PRIMARY``: it is the first agent of at least one trace (the workflow starts with it);
4. ``SPECIALIST``: another agent hands work to it;
5. ``UNKNOWN``: none of these (an agent seen alone).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from llamonitor.analytics.agents.models import AgentOperation, AgentProfile, Handoff, HandoffKind, _ValueEnum

FALLBACK_WORDS: tuple[str, ...] = ("fallback", "escalat", "backup", "recovery")


class AgentType(_ValueEnum):
    """Part an agent plays (see the module doc for how it is decided)."""

    PRIMARY = "primary"
    SPECIALIST = "specialist"
    COORDINATOR = "coordinator"
    FALLBACK = "fallback"
    UNKNOWN = "unknown"


def classify_agents(agents: Sequence[AgentProfile], operations: Sequence[AgentOperation],
                    handoffs: Sequence[Handoff]) -> dict[str, AgentType]:
    """The :class:`AgentType` of each agent in ``agents``, by name."""
    delegates_to: dict[str, set[str]] = defaultdict(set)
    receives: set[str] = set()
    for h in handoffs:
        if h.from_agent == h.to_agent:
            continue
        receives.add(h.to_agent)
        if h.kind is HandoffKind.DELEGATION:
            delegates_to[h.from_agent].add(h.to_agent)
    first: dict[str, AgentOperation] = {}
    for op in operations:
        if op.is_entry:
            seen = first.get(op.trace_id)
            if seen is None or op.start_ns < seen.start_ns:
                first[op.trace_id] = op
    starters = {op.agent_name for op in first.values()}
    out: dict[str, AgentType] = {}
    for a in agents:
        name = a.agent_name
        text = f"{name} {a.agent_role or ''}".lower()
        if any(w in text for w in FALLBACK_WORDS):
            out[name] = AgentType.FALLBACK
        elif len(delegates_to.get(name, ())) >= 2:
            out[name] = AgentType.COORDINATOR
        elif name in starters:
            out[name] = AgentType.PRIMARY
        elif name in receives:
            out[name] = AgentType.SPECIALIST
        else:
            out[name] = AgentType.UNKNOWN
    return out
