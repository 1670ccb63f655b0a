"""Shared result types of the multi-agent analyses (plain dataclasses, JSON-friendly via ``to_dict``)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, TypeVar

from llamonitor.quantiles import quantile

F = TypeVar("F", bound=Callable[..., Any])


class _ValueEnum(str, Enum):
    """A string enum that prints as its value (``f"{HandoffQuality.GOOD}"`` -> ``"GOOD"``)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class IdentitySource(_ValueEnum):
    """Where an operation's agent came from.

    ``RECORDED``: the event's own :class:`~llamonitor.schema.events.AgentIdentity` (set by a
    framework adapter or :func:`~llamonitor.monitoring_agent`). ``INHERITED``: the nearest
    ancestor span's recorded identity. ``INFERRED``: guessed from the operation name (fallback for
    plain decorated code only).
    """

    RECORDED = "recorded"
    INHERITED = "inherited"
    INFERRED = "inferred"


class HandoffKind(_ValueEnum):
    """How a handoff was found: a parent span of another agent (``delegation``), the previous
    sibling span of another agent (``sequence``), or ``agent.handoff_from`` (``explicit``)."""

    DELEGATION = "delegation"
    SEQUENCE = "sequence"
    EXPLICIT = "explicit"


class HandoffQuality(_ValueEnum):
    """Quality level of a handoff score: EXCELLENT > 0.9 >= GOOD >= 0.7 > ACCEPTABLE >= 0.5 > POOR >= 0.3 > FAILED."""

    EXCELLENT = "EXCELLENT"
    GOOD = "GOOD"
    ACCEPTABLE = "ACCEPTABLE"
    POOR = "POOR"
    FAILED = "FAILED"

    @classmethod
    def from_score(cls, score: float) -> HandoffQuality:
        """The level of a quality score in [0, 1]."""
        if score > 0.9:
            return cls.EXCELLENT
        if score >= 0.7:
            return cls.GOOD
        if score >= 0.5:
            return cls.ACCEPTABLE
        if score >= 0.3:
            return cls.POOR
        return cls.FAILED


class BottleneckSeverity(_ValueEnum):
    """Severity of a bottleneck score: CRITICAL >= 0.7 > HIGH >= 0.5 > MEDIUM >= 0.3 > LOW."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @classmethod
    def from_score(cls, score: float) -> BottleneckSeverity:
        """The severity of a bottleneck score in [0, 1]."""
        if score >= 0.7:
            return cls.CRITICAL
        if score >= 0.5:
            return cls.HIGH
        if score >= 0.3:
            return cls.MEDIUM
        return cls.LOW


class _Dict:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of this result."""
        return asdict(self)  # type: ignore[call-overload,no-any-return]


@dataclass(slots=True)
class AgentOperation(_Dict):
    """One recorded event attributed to an agent.

    ``is_entry`` marks the top span of an agent invocation (its parent belongs to another agent,
    or it has none); ``entry_span_id`` is the span id of the invocation an operation belongs to.
    ``self_time_ms`` is the part of its duration not covered by child spans of other agents.
    """

    event_id: str
    span_id: str
    parent_span_id: str | None
    trace_id: str
    session_id: str
    operation_name: str
    operation_type: str
    agent_name: str
    agent_role: str | None
    framework: str | None
    identity_source: IdentitySource
    start_ns: int
    end_ns: int
    duration_ms: float
    success: bool
    is_entry: bool = True
    entry_span_id: str = ""
    self_time_ms: float = 0.0
    input_content: str | None = None
    output_content: str | None = None
    handoff_from: str | None = None
    graph_step: int | None = None
    cost_usd: float = 0.0
    tokens: int = 0


@dataclass(slots=True)
class AgentProfile(_Dict):
    """An agent and its measured behaviour.

    ``invocations`` counts agent invocations (entry operations); latency figures are over
    invocation wall times; ``success_rate`` is the share of invocations without error.
    """

    agent_name: str
    agent_id: str | None
    agent_role: str | None
    framework: str | None
    identity_source: IdentitySource
    invocations: int = 0
    operations: int = 0
    errors: int = 0
    success_rate: float = 1.0
    avg_latency_ms: float = 0.0
    p50_latency_ms: float = 0.0
    p95_latency_ms: float = 0.0
    total_tokens: int = 0
    total_cost_usd: float = 0.0
    operation_names: list[str] = field(default_factory=list)
    sessions: int = 0
    collaborators: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Alias of :attr:`agent_name`."""
        return self.agent_name

    @property
    def role(self) -> str | None:
        """Alias of :attr:`agent_role`."""
        return self.agent_role


@dataclass(slots=True)
class Handoff(_Dict):
    """One transfer of work from one agent invocation to another, with its quality score.

    ``quality_score = 0.4 * correctness + 0.3 * efficiency + 0.3 * success_chain`` (see
    ``docs/analytics.md``).
    """

    from_agent: str
    to_agent: str
    kind: HandoffKind
    trace_id: str
    session_id: str
    source_span_id: str
    target_span_id: str
    timestamp_ns: int
    gap_ms: float
    correctness: float
    efficiency: float
    success_chain: float
    quality_score: float
    quality: HandoffQuality
    target_success: bool


@dataclass(slots=True)
class Entity(_Dict):
    """A piece of information found in captured content (``entity_type`` e.g. ``"email"``)."""

    value: str
    entity_type: str
    normalized: str


@dataclass(slots=True)
class DriftAnalysis(_Dict):
    """What one handoff carried over: entities the source had and the target no longer mentions.

    ``drift_score = len(lost_entities) / len(source_entities)`` (0 when the source had none).
    """

    from_agent: str
    to_agent: str
    trace_id: str
    session_id: str
    source_span_id: str
    target_span_id: str
    source_entities: list[Entity]
    preserved_entities: list[Entity]
    lost_entities: list[Entity]
    drift_score: float
    high_drift_threshold: float = 0.4

    @property
    def has_high_drift(self) -> bool:
        """More than ``high_drift_threshold`` (40 %) of the source's entities were lost."""
        return self.drift_score > self.high_drift_threshold

    @property
    def lost_types(self) -> list[str]:
        """Entity types lost, sorted."""
        return sorted({e.entity_type for e in self.lost_entities})


@dataclass(slots=True)
class GraphNode(_Dict):
    """An agent in the coordination graph."""

    id: str
    agent_role: str | None
    identity_source: str
    invocations: int
    avg_latency_ms: float
    p95_latency_ms: float
    success_rate: float
    critical_path_ms: float = 0.0


@dataclass(slots=True)
class GraphEdge(_Dict):
    """Handoffs from one agent to another, aggregated."""

    source: str
    target: str
    count: int
    avg_quality_score: float
    avg_gap_ms: float
    failures: int
    kinds: list[str]


@dataclass(slots=True)
class CoordinationGraph(_Dict):
    """Agents (nodes) and handoffs (edges) of a session (or of all sessions when ``session_id`` is None).

    ``max_depth``: the most agent invocations on one chain of handoffs in a trace.
    ``critical_path_ms``: the longest trace's critical path (time that determined its end-to-end
    latency, following real parent links); ``critical_path`` lists its agents in time order and
    ``critical_path_breakdown`` the milliseconds each agent contributed to it.
    """

    session_id: str | None
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    max_depth: int
    critical_path_ms: float
    critical_path: list[str]
    critical_path_breakdown: dict[str, float]
    entry_agents: list[str]
    traces: int


@dataclass(slots=True)
class Bottleneck(_Dict):
    """An agent that slows the system down, with its score components and recommendations.

    ``bottleneck_score = 0.3 * utilization + 0.3 * latency + 0.2 * failure_rate + 0.2 * downstream_impact``.
    """

    agent_name: str
    bottleneck_score: float
    severity: BottleneckSeverity
    utilization: float
    latency_score: float
    failure_rate: float
    downstream_impact: float
    invocations: int
    p95_latency_ms: float
    p95_self_time_ms: float
    critical_path_ms: float
    affected_agents: list[str]
    recommendations: list[str]


@dataclass(slots=True)
class Coalition(_Dict):
    """A team: a set of agents that worked together (linked by handoffs) in one or more traces.

    ``success_rate``: share of its runs (traces) whose top-level spans succeeded;
    ``avg_total_latency_ms``: mean wall time of a run.
    """

    coalition_id: str
    coalition_name: str
    agents: list[str]
    runs: int
    success_rate: float
    avg_total_latency_ms: float
    p95_total_latency_ms: float
    avg_handoff_quality: float
    handoffs: int
    sessions: list[str]
    identity_sources: list[str]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (``q`` in [0, 100]) of already sorted values; 0.0 when empty."""
    return float(quantile(sorted_values, q / 100.0)) if sorted_values else 0.0



def display_name(agent: str) -> str:
    """``"knowledge_base"`` -> ``"Knowledge Base"`` (names with capitals are kept)."""
    if any(c.isupper() for c in agent):
        return agent
    return " ".join(w.capitalize() for w in agent.replace("-", "_").split("_") if w) or agent


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    The analyses allocate hundreds of thousands of acyclic records; generation-2 collections
    triggered along the way rescan all of them and cost about a third of the run time.
    Reference counting still frees memory; the collector is re-enabled on exit (if it was on).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def gc_paused(fn: F) -> F:
    """Decorator form of :func:`paused_gc`."""
    import functools

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with paused_gc():
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]
