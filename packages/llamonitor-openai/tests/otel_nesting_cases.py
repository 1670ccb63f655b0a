"""Real OpenTelemetry instrumentations of the OpenAI SDK under llamonitor spans: one trace.

Run by ``test_otel_nesting.py`` in a fresh interpreter (the OpenLLMetry and OpenInference
instrumentors patch the SDK process-wide and do not undo all of it on ``uninstrument()``).

A ``@monitor_llm`` agent function calls the OpenAI SDK against the fake provider with
llamonitor's own adapter and an OpenTelemetry instrumentor both active, inside the app's own
OpenTelemetry request span: every span -- the app's, the instrumentor's and llamonitor's -- is in
one trace, every parent is a span of that trace, and the instrumentor's span is a descendant
of the llamonitor agent span.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import llamonitor
import openai
import pytest
from llamonitor import monitor_llm
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_openai import instrument_openai, uninstrument_openai


@pytest.fixture(autouse=True)
def _otel_sdk_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)


@pytest.fixture
def monitoring(tmp_path: Any) -> Iterator[Any]:
    from llamonitor.backends.registry import register_backend, unregister_backend
    from llamonitor.testing import InMemoryBackend

    sink = InMemoryBackend()
    register_backend("memory_nesting", lambda cfg: sink)
    llamonitor.initialize_monitoring_sync(llamonitor.MonitorConfig(
        storage=llamonitor.StorageConfig(backend="memory_nesting", flush_interval_seconds=0.05),
        spill_dir=str(tmp_path / "spill"), otel_context="always"))
    instrument_openai()
    yield sink
    uninstrument_openai()
    llamonitor.shutdown_sync(30)
    unregister_backend("memory_nesting")


@pytest.mark.parametrize("family", ["openinference", "openllmetry"])
def test_instrumentor_spans_nest_under_llamonitor_spans(family: str, monitoring: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if family == "openinference":
        mod = pytest.importorskip("openinference.instrumentation.openai")
    else:
        mod = pytest.importorskip("opentelemetry.instrumentation.openai")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = mod.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    tracer = provider.get_tracer("app")

    @monitor_llm("support agent", operation_type="invoke_agent")
    def agent(client: openai.OpenAI) -> str:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        return reply.choices[0].message.content or ""

    try:
        with FakeProvider() as fake:
            fake.reply(text="hello", model="gpt-4o-mini", input_tokens=12, output_tokens=3)
            with openai.OpenAI(base_url=fake.openai_base_url, api_key="t", max_retries=0) as client, \
                    tracer.start_as_current_span("POST /chat"):
                assert agent(client) == "hello"
    finally:
        instrumentor.uninstrument()
    assert llamonitor.flush_sync(10)
    provider.shutdown()
    ours = {e.span_id: (e.operation_name, e.parent_span_id, e.trace_id) for e in monitoring.events}
    theirs = {format(s.context.span_id, "016x"): (s.name, format(s.parent.span_id, "016x") if s.parent else None,
                                                  format(s.context.trace_id, "032x"))
              for s in exporter.get_finished_spans()}
    assert len(ours) == 2, ours  # the agent and the adapter's chat span (one LLM call, one event)
    assert len(theirs) == 2, theirs  # the app's request span and the instrumentor's span
    spans = {**ours, **theirs}
    assert len({t for _, _, t in spans.values()}) == 1  # ONE trace
    roots = [name for name, parent, _ in spans.values() if parent is None]
    assert roots == ["POST /chat"]
    assert all(parent is None or parent in spans for _, parent, _ in spans.values())

    def ancestors(span_id: str) -> list[str]:
        names = []
        parent = spans[span_id][1]
        while parent is not None:
            names.append(spans[parent][0])
            parent = spans[parent][1]
        return names

    instrumented = next(sid for sid, (name, _, _) in theirs.items() if name != "POST /chat")
    chat = next(sid for sid, (name, _, _) in ours.items() if name != "support agent")
    if family == "openinference":
        # it wraps the client's request method, inside our adapter's exposed chat span
        assert ancestors(instrumented) == ["chat gpt-4o-mini", "support agent", "POST /chat"]
    else:
        # it wraps the same SDK method as our adapter, outside it: our chat span joins its span
        assert ancestors(chat) == [spans[instrumented][0], "support agent", "POST /chat"]
        assert ancestors(instrumented) == ["support agent", "POST /chat"]
