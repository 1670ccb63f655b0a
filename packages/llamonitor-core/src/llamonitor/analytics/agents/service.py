"""Live multi-agent analysis per session (the seed's ``AgentIntelligenceService``).

Events arrive by :meth:`AgentIntelligenceService.process_event` or, attached to the writer, with
every batch it builds; each session's events are kept (bounded) and analysed with
:func:`llamonitor.analytics.pipeline.run_analysis`: agents and their :class:`AgentType`,
handoffs, drift, the coordination graph, bottlenecks and coalitions. ``initialize()`` also
re-analyses sessions with new events every ``analysis_interval_s``. A session not held in memory
is read from ``storage_backend`` (a :class:`~llamonitor.query.QueryBackend`) when one is given.

Memory is bounded: at most ``max_sessions`` sessions (the least recently updated is dropped,
counted in ``evicted_sessions``) of at most ``max_events_per_session`` events (later events of a
full session are counted in ``dropped_events``, not kept).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llamonitor.analytics.agents.detection import _tokens as event_tokens
from llamonitor.analytics.agents.models import (
    AgentProfile,
    Bottleneck,
    BottleneckSeverity,
    Coalition,
    CoordinationGraph,
)
from llamonitor.analytics.agents.types import AgentType, classify_agents
from llamonitor.analytics.listener import WriterListener
from llamonitor.schema.events import MetricEvent

if TYPE_CHECKING:
    from llamonitor.analytics.pipeline import AnalysisReport

logger = logging.getLogger("llamonitor")

_SEVERITY_RANK = {s.value: i for i, s in enumerate(BottleneckSeverity)}
#: bottleneck score from which an agent is reported as a bottleneck (BottleneckDetector's default)
BOTTLENECK_MIN_SCORE = 0.3


class AgentIntelligenceService(WriterListener):
    """Per-session multi-agent analysis (see the module doc)."""

    def __init__(self, storage_backend: Any = None, *, analysis_interval_s: float = 30.0, max_sessions: int = 1000,
                 max_events_per_session: int = 50_000, page_size: int = 1000) -> None:
        self.storage = storage_backend
        self.analysis_interval_s = analysis_interval_s
        self.max_sessions = max(1, max_sessions)
        self.max_events_per_session = max(1, max_events_per_session)
        self.page_size = page_size
        #: session id -> its events (least recently updated first)
        self.session_events: OrderedDict[str, list[MetricEvent]] = OrderedDict()
        #: session id -> its latest analysis
        self.reports: dict[str, AnalysisReport] = {}
        #: session id -> agent name -> type, of the latest analysis
        self.agent_types: dict[str, dict[str, AgentType]] = {}
        self.dropped_events = 0
        self.evicted_sessions = 0
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._attached: list[Any] = []

    # -- intake -----------------------------------------------------------------------------
    def process_batch(self, events: Sequence[MetricEvent]) -> None:
        """Add events to their sessions (thread-safe; the writer calls it once :meth:`attach` ran)."""
        with self._lock:
            for e in events:
                held = self.session_events.get(e.session_id)
                if held is None:
                    if len(self.session_events) >= self.max_sessions:
                        old, _ = self.session_events.popitem(last=False)
                        self.reports.pop(old, None)
                        self.agent_types.pop(old, None)
                        self._dirty.discard(old)
                        self.evicted_sessions += 1
                    held = self.session_events[e.session_id] = []
                else:
                    self.session_events.move_to_end(e.session_id)
                if len(held) >= self.max_events_per_session:
                    self.dropped_events += 1
                    continue
                held.append(e)
                self._dirty.add(e.session_id)

    async def process_event(self, event: MetricEvent) -> None:
        """Add one event to its session."""
        self.process_batch((event,))



    # -- background analysis ----------------------------------------------------------------
    async def initialize(self) -> None:
        """Start re-analysing updated sessions every ``analysis_interval_s`` seconds."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def shutdown(self) -> None:
        """Stop the background analysis and detach from writers."""
        self.detach()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.analysis_interval_s)
            with self._lock:
                dirty = list(self._dirty)
            for sid in dirty:
                try:
                    await self.analyze_session(sid)
                except Exception:
                    logger.exception("llamonitor: agent analysis of session %s failed", sid)

    # -- analysis ---------------------------------------------------------------------------
    async def _events_of(self, session_id: str) -> list[MetricEvent]:
        with self._lock:
            held = self.session_events.get(session_id)
            if held is not None:
                return list(held)
        if self.storage is None:
            return []
        from llamonitor.query.types import EventFilter

        out: list[MetricEvent] = []
        cursor: str | None = None
        while len(out) < self.max_events_per_session:
            page = await self.storage.events(EventFilter(session_id=session_id), limit=self.page_size, cursor=cursor)
            out.extend(page.events)
            cursor = page.next_cursor
            if cursor is None:
                break
        return out[: self.max_events_per_session]

    async def analyze(self, session_id: str) -> AnalysisReport | None:
        """Analyse one session now; the report, or ``None`` when it has no events."""
        from llamonitor.analytics.pipeline import run_analysis

        events = await self._events_of(session_id)
        if not events:
            return None
        report = await asyncio.to_thread(run_analysis, events, session_id, anomalies=False)
        types = classify_agents(report.agents, report.operations, report.handoffs)
        with self._lock:
            self._dirty.discard(session_id)
            if session_id in self.session_events or self.storage is not None:
                self.reports[session_id] = report
                self.agent_types[session_id] = types
        return report

    async def analyze_session(self, session_id: str) -> dict[str, Any]:
        """Analyse one session now: the report as a dict (``{}`` when the session has no events),
        with ``agent_types`` (agent name -> type)."""
        report = await self.analyze(session_id)
        if report is None:
            return {}
        out = report.to_dict()
        out["agent_types"] = {name: t.value for name, t in self.agent_types.get(session_id, {}).items()}
        return out

    async def _report(self, session_id: str) -> AnalysisReport | None:
        with self._lock:
            report = self.reports.get(session_id)
            stale = session_id in self._dirty
        if report is None or stale:
            report = await self.analyze(session_id)
        return report

    async def get_active_agents(self, session_id: str | None = None,
                                agent_type: AgentType | str | None = None) -> list[AgentProfile]:
        """Agents of one session (all held sessions when ``None``), optionally of one type."""
        wanted = AgentType(agent_type.value if isinstance(agent_type, AgentType) else agent_type) \
            if agent_type is not None else None
        sessions = [session_id] if session_id is not None else list(self.session_events)
        found: dict[str, AgentProfile] = {}
        for sid in sessions:
            report = await self._report(sid)
            if report is None:
                continue
            types = self.agent_types.get(sid, {})
            for a in report.agents:
                if wanted is None or types.get(a.agent_name) is wanted:
                    found.setdefault(a.agent_name, a)
        return list(found.values())

    async def get_agent_types(self, session_id: str) -> dict[str, AgentType]:
        """Agent name -> :class:`AgentType` for one session."""
        await self._report(session_id)
        return dict(self.agent_types.get(session_id, {}))

    async def get_coordination_graph(self, session_id: str) -> CoordinationGraph | None:
        """The session's coordination graph, or ``None`` without events."""
        report = await self._report(session_id)
        return report.graph if report is not None else None

    async def get_bottlenecks(self, session_id: str, min_severity: str = "low") -> list[Bottleneck]:
        """Agents scoring at least 0.3 as bottlenecks, at ``min_severity`` (low / medium / high /
        critical) or worse, worst first."""
        report = await self._report(session_id)
        if report is None:
            return []
        floor = _SEVERITY_RANK[min_severity.upper()]
        return [b for b in report.bottlenecks
                if b.bottleneck_score >= BOTTLENECK_MIN_SCORE and _SEVERITY_RANK[b.severity.value] >= floor]

    async def get_coalitions(self, session_id: str) -> list[Coalition]:
        """Teams found in the session."""
        report = await self._report(session_id)
        return list(report.coalitions) if report is not None else []

    async def get_session_summary(self, session_id: str) -> dict[str, Any]:
        """Counts, tokens, cost, latency, bottlenecks and coalitions of one session."""
        events = await self._events_of(session_id)
        report = await self._report(session_id)
        bottlenecks = await self.get_bottlenecks(session_id)
        latency = sum(e.duration_ms for e in events)
        tokens = sum(map(event_tokens, events))
        cost = sum(e.cost.total_cost_usd or 0.0 for e in events if e.cost is not None)
        return {
            "session_id": session_id, "agent_count": len(report.agents) if report is not None else 0,
            "event_count": len(events), "total_tokens": tokens, "total_cost_usd": cost,
            "total_latency_ms": latency, "avg_latency_ms": latency / len(events) if events else 0.0,
            "bottleneck_count": len(bottlenecks),
            "high_severity_bottlenecks": sum(b.severity in (BottleneckSeverity.HIGH, BottleneckSeverity.CRITICAL)
                                             for b in bottlenecks),
            "coalition_count": len(report.coalitions) if report is not None else 0,
            "has_coordination_graph": report is not None and bool(report.graph.nodes),
            "max_depth": report.graph.max_depth if report is not None else 0,
        }
