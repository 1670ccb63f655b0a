"""Seed names that were missing (issue 19): each called the seed way, checking the values it gives.

Measurement strategies, ``AnomalyDetector`` and its method detectors, ``AgentType`` and
``AgentIntelligenceService``; each maps onto llamonitor's own implementation.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Mapping
from typing import Any

import pytest
from llamonitor.schema.events import AgentIdentity, MetricEvent, TokenUsage

T0 = 1_767_225_600_000_000_000
_ids = itertools.count(1)


# -- measurement strategies ----------------------------------------------------------------------

def test_strategy_classes_measure_like_the_seed() -> None:
    from llmops_monitoring.measurement import MeasurementReliability, MeasurementType
    from llmops_monitoring.measurement.strategies import CapacityStrategy, HybridStrategy, TokenStrategy

    async def run() -> None:
        cap = await CapacityStrategy().measure("Hello, world!\nBye")
        assert (cap.char_count, cap.word_count, cap.byte_size, cap.line_count) == (17, 3, 17, 2)
        assert cap.total_tokens is None and cap.metadata.strategy_name == "CapacityStrategy"
        assert cap.metadata.measurement_type is MeasurementType.CAPACITY
        assert cap.metadata.reliability is MeasurementReliability.EXACT and cap.metadata.confidence_score == 1.0

        tok = await TokenStrategy().measure("Hello, world!", context={"model": "gpt-4"})
        assert tok.total_tokens == 4 and tok.metadata.reliability.value == "exact"
        assert tok.metadata.tokenizer_name == "cl100k_base" and tok.metadata.strategy_name == "TokenStrategy"
        # the seed's other place for the model
        tok2 = await TokenStrategy().measure("Hello, world!", context={"custom_attributes": {"model": "gpt-4"}})
        assert tok2.total_tokens == 4
        est = await TokenStrategy().measure("x" * 41, context={"model": "my-own-llm"})
        assert est.total_tokens == math.ceil(41 / 4) and est.metadata.reliability.value == "estimated"
        assert est.metadata.confidence_score == 0.75
        hyb = await HybridStrategy().measure("Hello, world!", {"model": "gpt-4"})
        assert hyb.char_count == 13 and hyb.word_count == 2 and hyb.total_tokens == 4
        assert hyb.metadata.measurement_type is MeasurementType.HYBRID and hyb.metadata.confidence_score == 1.0

    asyncio.run(run())
    assert TokenStrategy().supports_model("gpt-4o") and not TokenStrategy().supports_model("my-own-llm")
    assert CapacityStrategy().supports_model(None) and HybridStrategy().supports_model("anything")
    assert [s.get_priority() for s in (CapacityStrategy(), TokenStrategy(), HybridStrategy())] == [30, 70, 80]
    assert isinstance(HybridStrategy().token_strategy, TokenStrategy)


def test_registry_resolver_and_seed_measure_text() -> None:
    from llmops_monitoring.measurement import (
        MeasurementResult,
        MeasurementStrategy,
        MeasurementStrategyResolver,
        StrategyMode,
        StrategyRegistry,
        measure_text,
    )
    from llmops_monitoring.measurement.strategies import CapacityStrategy

    class Shouting(MeasurementStrategy):
        async def measure(self, text: str, context: Mapping[str, Any] | None = None) -> MeasurementResult:
            return MeasurementResult(char_count=len(text.upper()) * 10)

        def supports_model(self, model: str | None) -> bool:
            return True

    class Broken(CapacityStrategy):
        async def measure(self, text: str, context: Mapping[str, Any] | None = None) -> MeasurementResult:
            raise RuntimeError("tokenizer exploded")

    async def run() -> None:
        assert {"capacity", "token", "hybrid"} <= set(StrategyRegistry.list_strategies())
        assert isinstance(StrategyRegistry.get_strategy("capacity"), CapacityStrategy)
        assert StrategyRegistry.get_strategy("nope") is None
        StrategyRegistry.register("shout", Shouting)
        original = StrategyRegistry._strategies["token"]
        try:
            # auto picks tokens for a model with a tokenizer (llamonitor's auto mode)
            auto = await MeasurementStrategyResolver().measure("Hello, world!", {"model": "gpt-4o"})
            assert auto.total_tokens == 4 and auto.metadata.tokenizer_name == "o200k_base"
            hybrid = await MeasurementStrategyResolver("auto").measure("Hello, world!", {"use_hybrid": True})
            assert hybrid.word_count == 2 and hybrid.total_tokens == math.ceil(13 / 4)
            # a registered replacement is what the resolver runs
            StrategyRegistry.register("token", Shouting)
            assert (await MeasurementStrategyResolver("token").measure("ab")).char_count == 20
            # a failing strategy falls back to capacity (fallback_enabled)
            StrategyRegistry.register("token", Broken)
            fell = await MeasurementStrategyResolver("token").measure("ab cd")
            assert fell.word_count == 2 and fell.metadata.strategy_name == "CapacityStrategy"
            with pytest.raises(RuntimeError):
                await MeasurementStrategyResolver("token", {"fallback_enabled": False}).measure("ab")
        finally:
            StrategyRegistry.register("token", original)
            StrategyRegistry._strategies.pop("shout", None)
        # the seed's measure_text: auto by default
        seed = await measure_text("Hello, world!", context={"model": "gpt-4"})
        assert seed.total_tokens == 4
        info = MeasurementStrategyResolver("hybrid").get_strategy_info()
        assert info["mode"] == "hybrid" and "capacity" in info["available_strategies"]
        many = await MeasurementStrategyResolver("capacity").measure_multiple(["a b", "c"])
        assert [r.word_count for r in many] == [2, 1]

    asyncio.run(run())
    assert StrategyMode("hybrid") is StrategyMode.HYBRID


# -- anomaly detectors ---------------------------------------------------------------------------

def _op_event(op: str, duration_ms: float, *, error: bool = False, i: int = 0) -> MetricEvent:
    n = next(_ids)
    start = T0 + i * 1_000_000_000
    return MetricEvent(event_id=f"a{n}", session_id="s", trace_id=f"t{n}", span_id=f"{n:016x}", operation_name=op,
                       start_time_ns=start, end_time_ns=start + int(duration_ms * 1e6), duration_ms=duration_ms,
                       error=error)


def _history() -> list[MetricEvent]:
    return [_op_event("summarize", 100.0 + (i % 5) * 2, i=i) for i in range(40)]


def test_zscore_iqr_and_error_rate_detectors() -> None:
    from llmops_monitoring.anomaly import AnomalyDetector
    from llmops_monitoring.anomaly.detector import AnomalySeverity, ErrorRateDetector, IQRDetector, ZScoreDetector

    spike = _op_event("summarize", 2500.0, i=100)
    z = ZScoreDetector(threshold=3.0)
    assert isinstance(z, AnomalyDetector)
    z.fit(_history())
    (hit,) = [r for r in z.detect([spike, _op_event("summarize", 103.0, i=101)]) if r.metric_name == "duration_ms"]
    assert hit.is_anomaly and hit.method == "z_score" and hit.value == 2500.0 and hit.event_id == spike.event_id
    assert hit.expected == pytest.approx(104.0) and hit.severity is AnomalySeverity.CRITICAL
    iqr = IQRDetector(k=1.5)
    iqr.fit(_history())
    (hit,) = [r for r in iqr.detect([spike]) if r.metric_name == "duration_ms"]
    assert hit.method == "iqr" and hit.expected == pytest.approx(104.0)
    errors = ErrorRateDetector(threshold=0.1, window_size=20)
    errors.fit(_history())
    burst = [_op_event("summarize", 100.0, error=k % 2 == 0, i=200 + k) for k in range(20)]
    (rate,) = errors.detect(burst)
    assert rate.method == "error_rate" and rate.value == pytest.approx(0.5)
    assert z._determine_severity(0.95) is AnomalySeverity.CRITICAL


def test_service_runs_custom_detectors_instead_of_builtin_methods() -> None:
    from llmops_monitoring.anomaly import AnomalyDetectionService, AnomalyDetector, AnomalyResult
    from llmops_monitoring.anomaly.detector import AnomalySeverity, ZScoreDetector
    from llmops_monitoring.anomaly.service import get_anomaly_service, initialize_anomaly_service

    class TooSlow(AnomalyDetector):
        """A user's rule: anything over 1 s, scored by how far over."""

        def __init__(self) -> None:
            self.fitted = 0

        def fit(self, events: Any) -> None:
            self.fitted = len(events)

        def detect(self, events: Any) -> list[AnomalyResult]:
            return [AnomalyResult(operation_name=e.operation_name, metric_name="duration_ms",
                                  severity=self._determine_severity(0.8), anomaly_score=0.8, method="too_slow",
                                  value=e.duration_ms, expected=1000.0, deviation=e.duration_ms / 1000.0,
                                  threshold=1.0, spread=0.0, baseline_size=self.fitted, event_id=e.event_id)
                    for e in events if e.duration_ms > 1000]

    alerts: list[AnomalyResult] = []
    rule = TooSlow()
    service = AnomalyDetectionService(detectors=[rule, ZScoreDetector()], alert_callback=alerts.append)
    assert service.methods == ()

    async def run() -> list[AnomalyResult]:
        await service.train(iter(_history()))  # a one-pass iterable reaches every detector
        spike = _op_event("summarize", 2500.0, i=100)
        burst = [_op_event("summarize", 100.0, error=True, i=300 + k) for k in range(30)]
        return await service.detect([spike, *burst])

    found = asyncio.run(run())
    assert rule.fitted == 40 and service.is_trained
    # one result per event and metric: the z-score one scores higher than the rule's 0.8
    (dur,) = [r for r in found if r.metric_name == "duration_ms"]
    assert dur.method == "z_score" and dur.severity is AnomalySeverity.CRITICAL
    # the built-in error-rate method did not run: only the detectors given
    assert not [r for r in found if r.method == "error_rate"]
    assert alerts == [dur]
    shared = initialize_anomaly_service(detectors=[rule])
    assert get_anomaly_service() is shared and shared.detectors == [rule]


# -- agents --------------------------------------------------------------------------------------

class _Trace:
    def __init__(self, trace_id: str, session_id: str = "s1", offset_ms: float = 0.0) -> None:
        self.trace_id, self.session_id, self.offset_ms = trace_id, session_id, offset_ms
        self.events: list[MetricEvent] = []

    def span(self, agent: str, start_ms: float, dur_ms: float, parent: str | None = None, *, role: str | None = None,
             tokens: int = 10, error: bool = False) -> str:
        n = next(_ids)
        span_id = f"{n:016x}"
        start = T0 + int((self.offset_ms + start_ms) * 1e6)
        self.events.append(MetricEvent(
            event_id=f"g{n}", session_id=self.session_id, trace_id=self.trace_id, span_id=span_id,
            operation_name=f"{agent}_step", start_time_ns=start, end_time_ns=start + int(dur_ms * 1e6),
            duration_ms=dur_ms, parent_span_id=parent, error=error,
            agent=AgentIdentity(agent_name=agent, agent_role=role), usage=TokenUsage(total_tokens=tokens)))
        return span_id


def _workflow(session_id: str = "s1", traces: int = 3) -> list[MetricEvent]:
    """orchestrator delegates to classifier and retriever, then the writer; a fallback agent
    takes over when the writer fails (trace 0)."""
    events: list[MetricEvent] = []
    for k in range(traces):
        tr = _Trace(f"{session_id}-t{k}", session_id, offset_ms=k * 10_000)
        root = tr.span("orchestrator", 0, 900)
        tr.span("classifier", 10, 100, root)
        tr.span("retriever", 120, 300, root)
        tr.span("writer", 430, 200, root, error=k == 0)
        if k == 0:
            tr.span("fallback_agent", 640, 150, root, role="escalation")
        events.extend(tr.events)
    return events


def test_agent_type_classification() -> None:
    from llamonitor.analytics.agents import AgentDetector, HandoffAnalyzer, classify_agents
    from llmops_monitoring.agent import AgentType

    events = _workflow()
    detector = AgentDetector()
    agents = detector.detect_agents_sync(events)
    ops = detector.detect_agent_operations_sync(events)
    handoffs = HandoffAnalyzer().analyze_handoffs_sync(ops, events)
    types = classify_agents(agents, ops, handoffs)
    assert types == {"orchestrator": AgentType.COORDINATOR, "classifier": AgentType.SPECIALIST,
                     "retriever": AgentType.SPECIALIST, "writer": AgentType.SPECIALIST,
                     "fallback_agent": AgentType.FALLBACK}
    # a flat chain: the first agent of each trace is primary
    solo = _Trace("chain")
    a = solo.span("intake", 0, 10)
    solo.span("answerer", 20, 10)
    solo.events[1].parent_span_id = None
    del a
    agents = detector.detect_agents_sync(solo.events)
    ops = detector.detect_agent_operations_sync(solo.events)
    handoffs = HandoffAnalyzer().analyze_handoffs_sync(ops, solo.events)
    assert classify_agents(agents, ops, handoffs) == {"intake": AgentType.PRIMARY, "answerer": AgentType.SPECIALIST}
    assert AgentType("coordinator") is AgentType.COORDINATOR and f"{AgentType.PRIMARY}" == "primary"


def test_agent_intelligence_service_the_seed_way(memory_config: Any, memory_sink: Any) -> None:
    import llamonitor
    from llmops_monitoring.agent import AgentIntelligenceService, AgentType

    async def run() -> None:
        service = AgentIntelligenceService(analysis_interval_s=0.05)
        await service.initialize()
        for event in _workflow("s1"):
            await service.process_event(event)
        analysis = await service.analyze_session("s1")
        assert analysis["events"] == 3 * 4 + 1
        assert analysis["agent_types"]["orchestrator"] == "coordinator"
        assert {a["agent_name"] for a in analysis["agents"]} == {
            "orchestrator", "classifier", "retriever", "writer", "fallback_agent"}
        coordinators = await service.get_active_agents("s1", agent_type="coordinator")
        assert [a.agent_name for a in coordinators] == ["orchestrator"]
        assert len(await service.get_active_agents(agent_type=AgentType.SPECIALIST)) == 3
        graph = await service.get_coordination_graph("s1")
        # orchestrator -> classifier -> retriever -> writer -> fallback_agent (delegation, then sequence)
        assert graph is not None and graph.session_id == "s1" and graph.entry_agents == ["orchestrator"]
        assert graph.max_depth == 5
        assert all(b.bottleneck_score >= 0.3 for b in await service.get_bottlenecks("s1"))
        assert await service.get_bottlenecks("s1", min_severity="critical") == [
            b for b in await service.get_bottlenecks("s1") if b.severity.value == "CRITICAL"]
        summary = await service.get_session_summary("s1")
        assert summary["event_count"] == 13 and summary["total_tokens"] == 130 and summary["agent_count"] == 5
        assert summary["total_latency_ms"] == pytest.approx(3 * (900 + 100 + 300 + 200) + 150)
        assert await service.analyze_session("nope") == {} and await service.get_coalitions("nope") == []
        # background loop re-analyses a session that got new events
        for event in _workflow("s2", traces=1):
            await service.process_event(event)
        for _ in range(100):
            if "s2" in service.reports:
                break
            await asyncio.sleep(0.02)
        assert service.reports["s2"].events == 5
        await service.shutdown()

    asyncio.run(run())

    # fed by the writer: every batch it builds
    async def live() -> None:
        service = AgentIntelligenceService()
        await llamonitor.initialize_monitoring(memory_config)
        service.attach()

        @llamonitor.monitor_llm("plan")
        async def plan(q: str) -> str:
            return q

        with llamonitor.monitoring_session("live"), llamonitor.monitoring_agent("planner"):
            await plan("a")
            await plan("b")
        await llamonitor.shutdown_monitoring()
        service.detach()
        held = service.session_events.get("live", [])
        assert len(held) == 2 and {e.agent.agent_name for e in held if e.agent} == {"planner"}
        assert [a.agent_name for a in await service.get_active_agents("live")] == ["planner"]

    asyncio.run(live())


def test_agent_intelligence_service_memory_is_bounded() -> None:
    from llmops_monitoring.agent import AgentIntelligenceService

    service = AgentIntelligenceService(max_sessions=2, max_events_per_session=3)
    for sid in ("a", "b", "c"):
        service.process_batch([MetricEvent(session_id=sid, trace_id="t", span_id=f"{sid}{i}", operation_name="x",
                                           start_time_ns=1, end_time_ns=2, duration_ms=0.0) for i in range(5)])
    assert list(service.session_events) == ["b", "c"]
    assert [len(v) for v in service.session_events.values()] == [3, 3]
    assert service.evicted_sessions == 1 and service.dropped_events == 3 * 2
