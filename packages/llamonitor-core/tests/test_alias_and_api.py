"""The ``llmops_monitoring`` alias shares modules with ``llamonitor``; the adapter emit API."""

from __future__ import annotations

import importlib

import llamonitor
from llamonitor.tracing import is_suppressed, start_span, suppress_instrumentation


def test_alias_modules_are_the_same_objects() -> None:
    pairs = {
        "llmops_monitoring.schema.config": "llamonitor.schema.config",
        "llmops_monitoring.instrumentation.base": "llamonitor.instrumentation.base",
        "llmops_monitoring.instrumentation.context": "llamonitor.context",
        "llmops_monitoring.measurement.config": "llamonitor.measurement.config",
        "llmops_monitoring.storage.base": "llamonitor.backends.base",
    }
    for alias, real in pairs.items():
        assert importlib.import_module(alias) is importlib.import_module(real), alias
    import llmops_monitoring

    assert llmops_monitoring.MonitorConfig is llamonitor.MonitorConfig
    assert llmops_monitoring.monitor_llm is llamonitor.monitor_llm
    from llmops_monitoring.instrumentation.base import CollectorRegistry

    assert CollectorRegistry is llamonitor.CollectorRegistry  # one registry, not a copy
    # the seed's measurement package adds its strategy API; llamonitor's objects are shared
    real = importlib.import_module("llamonitor.measurement")
    seed = importlib.import_module("llmops_monitoring.measurement")
    assert seed.MeasurementResult is real.MeasurementResult and seed.Measurer is real.Measurer


def test_unknown_alias_module_fails_like_a_normal_import() -> None:
    try:
        importlib.import_module("llmops_monitoring.does_not_exist")
    except ModuleNotFoundError as exc:
        assert "does_not_exist" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("import should fail")


def test_adapter_spans_nest_and_carry_usage(memory_config, memory_sink) -> None:  # type: ignore[no-untyped-def]
    from llamonitor import TokenUsage, monitor_llm, monitoring_agent

    llamonitor.initialize_monitoring_sync(memory_config)

    @monitor_llm("tool")
    def tool() -> str:
        return "ok"

    with monitoring_agent("researcher", role="research", framework="custom"):
        span = start_span("chat gpt-4o-mini", operation_type="chat", provider="openai", model="gpt-4o-mini")
        with span.activate():
            tool()
        span.end(usage=TokenUsage(input_tokens=1000, output_tokens=500, cached_input_tokens=200,
                                  source="provider"))
        span.end()  # idempotent
    assert llamonitor.flush_sync(10)
    events = {e.operation_name: e for e in memory_sink.events}
    chat = events["chat gpt-4o-mini"]
    assert events["tool"].parent_span_id == chat.span_id == span.span_id
    assert chat.agent is not None and chat.agent.agent_name == "researcher"
    assert chat.usage is not None and chat.usage.input_tokens == 1000
    # Provider usage is priced automatically (no collectors list needed for adapters).
    assert chat.cost is not None and chat.cost.total_cost_usd is not None and chat.cost.total_cost_usd > 0
    from llamonitor.pricing import calculate_cost

    expected = calculate_cost("gpt-4o-mini", 1000, 500, cached_input_tokens=200)
    assert expected is not None and chat.cost.total_cost_usd == expected.total_cost_usd


def test_suppression_context() -> None:
    assert not is_suppressed()
    with suppress_instrumentation():
        assert is_suppressed()
    assert not is_suppressed()


def test_span_with_explicit_ids_and_error(memory_config, memory_sink) -> None:  # type: ignore[no-untyped-def]
    llamonitor.initialize_monitoring_sync(memory_config)
    span = start_span("task", operation_type="agent", session_id="crew-1", trace_id="t-1",
                      span_id="evt-2", parent_span_id="evt-1", inherit_context=False)
    span.end(error=TimeoutError("took too long"))
    assert llamonitor.flush_sync(10)
    (event,) = memory_sink.events
    assert (event.session_id, event.trace_id, event.span_id, event.parent_span_id) == ("crew-1", "t-1", "evt-2",
                                                                                        "evt-1")
    assert event.error and event.error_type == "TimeoutError" and event.error_message == "took too long"


def test_current_span_id_with_an_adapter_string_id() -> None:
    from llamonitor import get_current_span_id

    span = start_span("node", span_id="run-7f3a")
    with span.activate():
        assert get_current_span_id() == "run-7f3a"
    assert get_current_span_id() is None
