"""OTLP spans follow the GenAI semantic conventions: values compared with the semconv package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import llamonitor
import pytest
from llamonitor import AgentIdentity, OTLPConfig, PrometheusConfig, monitoring_session
from llamonitor.exporters import genai_semconv
from llamonitor.schema.events import TokenUsage
from llamonitor.testing import InMemoryBackend
from llamonitor.tracing import start_span
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as g
from testkits.exporters import Receiver, decode, samples, sink_named, total, wait_for

OPS = g.GenAiOperationNameValues


def test_operation_values_are_the_semconv_constants() -> None:
    assert {v.value for v in OPS} == genai_semconv.SEMCONV_OPERATIONS
    assert OPS.CHAT.value == genai_semconv.CHAT and OPS.EXECUTE_TOOL.value == genai_semconv.EXECUTE_TOOL
    assert OPS.INVOKE_AGENT.value == genai_semconv.INVOKE_AGENT
    assert OPS.INVOKE_WORKFLOW.value == genai_semconv.INVOKE_WORKFLOW
    assert OPS.EMBEDDINGS.value == genai_semconv.EMBEDDINGS
    assert set(genai_semconv.OPERATION_NAMES.values()) <= genai_semconv.SEMCONV_OPERATIONS


def _export(make_config: Any, tmp_path: Path, receiver: Receiver, n: int, record: Any, **otlp: Any,
            ) -> dict[str, dict[str, Any]]:
    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.extensions["otlp"] = OTLPConfig(endpoint=receiver.url + "/v1/traces", **otlp).model_dump()
    llamonitor.initialize_monitoring_sync(cfg)
    record()
    assert llamonitor.flush_sync(10)
    wait_for(lambda: len(decode(receiver)[0]) == n)
    return {s["span"].name: s for s in decode(receiver)[0]}


def _record_each_kind() -> None:
    with monitoring_session("conv-9"):
        start_span("chat gpt-4o", operation_type="chat", model="gpt-4o", provider="openai").end(
            usage=TokenUsage(input_tokens=10, output_tokens=5, source="provider"),
            attributes={"finish_reason": "stop,length", "gen_ai.response.model": "gpt-4o-2024-08-06"})
        start_span("embeddings text-embedding-3-small", operation_type="embeddings",
                   model="text-embedding-3-small", provider="openai").end()
        start_span("tool get_weather", operation_type="tool").end(attributes={"tool_call_id": "call_1"})
        start_span("autogen.agent planner", operation_type="agent",
                   agent=AgentIdentity(agent_name="planner", framework="autogen")).end()
        start_span("support-crew", operation_type="crew").end()
        start_span("handoff a -> b", operation_type="handoff").end()


def test_span_names_kinds_and_attributes_per_operation(make_config: Any, tmp_path: Path,
                                                        memory_sink: InMemoryBackend, receiver: Receiver) -> None:
    spans = _export(make_config, tmp_path, receiver, 6, _record_each_kind)
    assert sorted(spans) == ["chat gpt-4o", "embeddings text-embedding-3-small", "execute_tool get_weather",
                             "handoff a -> b", "invoke_agent planner", "invoke_workflow support-crew"]
    chat = spans["chat gpt-4o"]
    a = chat["attrs"]
    assert chat["span"].kind == Span.SPAN_KIND_CLIENT
    assert a[g.GEN_AI_OPERATION_NAME] == OPS.CHAT.value
    assert a[g.GEN_AI_REQUEST_MODEL] == "gpt-4o" and a[g.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert a[g.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop", "length"]
    assert a[g.GEN_AI_CONVERSATION_ID] == "conv-9"
    assert "finish_reason" not in a  # consumed into the convention's attribute, not repeated
    # no content attributes without content capture
    assert g.GEN_AI_INPUT_MESSAGES not in a and g.GEN_AI_OUTPUT_MESSAGES not in a
    emb = spans["embeddings text-embedding-3-small"]
    assert emb["span"].kind == Span.SPAN_KIND_CLIENT
    assert emb["attrs"][g.GEN_AI_OPERATION_NAME] == OPS.EMBEDDINGS.value
    tool = spans["execute_tool get_weather"]
    assert tool["span"].kind == Span.SPAN_KIND_INTERNAL
    assert tool["attrs"][g.GEN_AI_OPERATION_NAME] == OPS.EXECUTE_TOOL.value
    assert tool["attrs"][g.GEN_AI_TOOL_NAME] == "get_weather" and tool["attrs"][g.GEN_AI_TOOL_CALL_ID] == "call_1"
    agent = spans["invoke_agent planner"]
    assert agent["span"].kind == Span.SPAN_KIND_INTERNAL
    assert agent["attrs"][g.GEN_AI_OPERATION_NAME] == OPS.INVOKE_AGENT.value
    assert agent["attrs"][g.GEN_AI_AGENT_NAME] == "planner"
    flow = spans["invoke_workflow support-crew"]
    assert flow["attrs"][g.GEN_AI_OPERATION_NAME] == OPS.INVOKE_WORKFLOW.value
    # a type the conventions do not know keeps its own name and type
    assert spans["handoff a -> b"]["attrs"][g.GEN_AI_OPERATION_NAME] == "handoff"
    assert all("openinference.span.kind" not in s["attrs"] for s in spans.values())


def test_openinference_span_kind_is_optional(make_config: Any, tmp_path: Path,
                                             memory_sink: InMemoryBackend, receiver: Receiver) -> None:
    spans = _export(make_config, tmp_path, receiver, 6, _record_each_kind, openinference=True)
    kinds = {name: s["attrs"]["openinference.span.kind"] for name, s in spans.items()}
    assert kinds == {"chat gpt-4o": "LLM", "embeddings text-embedding-3-small": "EMBEDDING",
                     "execute_tool get_weather": "TOOL", "invoke_agent planner": "AGENT",
                     "invoke_workflow support-crew": "CHAIN", "handoff a -> b": "CHAIN"}


@pytest.mark.parametrize("capture", [False, True])
def test_openai_adapter_spans_and_content_only_when_captured(capture: bool, make_config: Any, tmp_path: Path,
                                                              memory_sink: InMemoryBackend,
                                                              receiver: Receiver) -> None:
    openai = pytest.importorskip("openai")
    adapter = pytest.importorskip("llamonitor_openai")
    from llamonitor.testing.fake_provider import FakeProvider

    def redact(text: str) -> str:
        return text.replace("s3cret", "[redacted]")

    cfg = make_config(tmp_path, storage={"backend": "memory"}, capture_content=capture, content_redactor=redact)
    cfg.extensions["otlp"] = OTLPConfig(endpoint=receiver.url + "/v1/traces").model_dump()
    llamonitor.initialize_monitoring_sync(cfg)
    adapter.instrument_openai()
    try:
        with FakeProvider() as fake, openai.OpenAI(base_url=fake.openai_base_url, api_key="test",
                                                   max_retries=0) as client:
            fake.reply(text="the answer is s3cret", model="gpt-4o-mini-2024-07-18")
            client.chat.completions.create(model="gpt-4o-mini", messages=[
                {"role": "system", "content": "You are terse. Key: s3cret"},
                {"role": "user", "content": "hi s3cret"}])
            client.embeddings.create(model="text-embedding-3-small", input="hello")
    finally:
        adapter.uninstrument_openai()
    assert llamonitor.flush_sync(10)
    wait_for(lambda: len(decode(receiver)[0]) == 2)
    spans = {s["span"].name: s for s in decode(receiver)[0]}
    chat = spans["chat gpt-4o-mini"]["attrs"]
    assert spans["chat gpt-4o-mini"]["span"].kind == Span.SPAN_KIND_CLIENT
    assert chat[g.GEN_AI_OPERATION_NAME] == OPS.CHAT.value
    assert chat[g.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert chat[g.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert chat[g.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert spans["embeddings text-embedding-3-small"]["attrs"][g.GEN_AI_OPERATION_NAME] == OPS.EMBEDDINGS.value
    if not capture:
        assert g.GEN_AI_INPUT_MESSAGES not in chat and g.GEN_AI_OUTPUT_MESSAGES not in chat
        assert g.GEN_AI_SYSTEM_INSTRUCTIONS not in chat
        assert all(e.system_instructions is None for e in memory_sink.events)
        return
    # the system message, after the redactor, as the convention's list of parts
    assert json.loads(chat[g.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "You are terse. Key: [redacted]"}]
    out = json.loads(chat[g.GEN_AI_OUTPUT_MESSAGES])
    assert out[0]["role"] == "assistant" and out[0]["finish_reason"] == "stop"
    assert "[redacted]" in out[0]["parts"][0]["content"] and "s3cret" not in chat[g.GEN_AI_OUTPUT_MESSAGES]
    assert "s3cret" not in chat[g.GEN_AI_INPUT_MESSAGES]


def test_anthropic_adapter_request_and_response_model_apart(make_config: Any, tmp_path: Path,
                                                            memory_sink: InMemoryBackend, receiver: Receiver) -> None:
    anthropic = pytest.importorskip("anthropic")
    adapter = pytest.importorskip("llamonitor_anthropic")
    from llamonitor.testing.fake_provider import FakeProvider

    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.extensions["otlp"] = OTLPConfig(endpoint=receiver.url + "/v1/traces").model_dump()
    llamonitor.initialize_monitoring_sync(cfg)
    adapter.instrument_anthropic()
    try:
        with FakeProvider() as fake, anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="test",
                                                         max_retries=0) as client:
            fake.reply(text="hi", model="claude-3-5-haiku-20241022")
            client.messages.create(model="claude-3-5-haiku-latest", max_tokens=50,
                                   messages=[{"role": "user", "content": "hi"}])
    finally:
        adapter.uninstrument_anthropic()
    assert llamonitor.flush_sync(10)
    wait_for(lambda: len(decode(receiver)[0]) == 1)
    span = decode(receiver)[0][0]
    assert span["span"].name == "chat claude-3-5-haiku-latest" and span["span"].kind == Span.SPAN_KIND_CLIENT
    a = span["attrs"]
    assert a[g.GEN_AI_OPERATION_NAME] == OPS.CHAT.value
    assert a[g.GEN_AI_REQUEST_MODEL] == "claude-3-5-haiku-latest"
    assert a[g.GEN_AI_RESPONSE_MODEL] == "claude-3-5-haiku-20241022"
    assert a[g.GEN_AI_RESPONSE_FINISH_REASONS] == ["end_turn"]
    assert g.GEN_AI_INPUT_MESSAGES not in a


def test_prometheus_model_label_is_the_request_model(make_config: Any, tmp_path: Path,
                                                     memory_sink: InMemoryBackend) -> None:
    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.extensions["prometheus"] = PrometheusConfig(port=0).model_dump()
    llamonitor.initialize_monitoring_sync(cfg)
    for answered in ("gpt-4o-2024-08-06", "gpt-4o-2024-11-20"):  # one asked model, two snapshots
        start_span("chat gpt-4o", operation_type="chat", model=answered, provider="openai",
                   attributes={"gen_ai.request.model": "gpt-4o"}).end(
            attributes={"gen_ai.response.model": answered})
    assert llamonitor.flush_sync(10)
    values = samples(httpx.get(sink_named("prometheus").url or "", timeout=5).text)
    assert total(values, "llm_operations_total", model="gpt-4o") == 2
    assert total(values, "llm_operations_total", model="gpt-4o-2024-08-06") == 0


def test_request_and_response_model_from_the_event_fields(make_config: Any, tmp_path: Path,
                                                          memory_sink: InMemoryBackend, receiver: Receiver) -> None:
    def record() -> None:
        start_span("chat gpt-4o", operation_type="chat", model="gpt-4o", provider="openai").end(
            response_model="gpt-4o-2024-08-06")
        start_span("chat gpt-4o-mini", operation_type="chat", model="gpt-4o-mini", provider="openai").end()

    spans = _export(make_config, tmp_path, receiver, 2, record)
    a = spans["chat gpt-4o"]["attrs"]
    assert a[g.GEN_AI_REQUEST_MODEL] == "gpt-4o" and a[g.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    b = spans["chat gpt-4o-mini"]["attrs"]
    assert b[g.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini" and g.GEN_AI_RESPONSE_MODEL not in b
    stored = {e.operation_name: e for e in memory_sink.events}
    assert stored["chat gpt-4o"].model == "gpt-4o" and stored["chat gpt-4o"].response_model == "gpt-4o-2024-08-06"


def test_prometheus_label_is_the_request_model_field(make_config: Any, tmp_path: Path,
                                                              memory_sink: InMemoryBackend) -> None:
    cfg = make_config(tmp_path, storage={"backend": "memory"})
    cfg.extensions["prometheus"] = PrometheusConfig(port=0).model_dump()
    llamonitor.initialize_monitoring_sync(cfg)
    for answered in ("gpt-4o-2024-08-06", "gpt-4o-2024-11-20"):
        start_span("chat gpt-4o", operation_type="chat", model="gpt-4o", provider="openai").end(
            response_model=answered)
    assert llamonitor.flush_sync(10)
    values = samples(httpx.get(sink_named("prometheus").url or "", timeout=5).text)
    assert total(values, "llm_operations_total", model="gpt-4o") == 2
    assert total(values, "llm_operations_total", model="gpt-4o-2024-08-06") == 0


@pytest.mark.parametrize("capture", [False, True])
def test_anthropic_system_parameter_is_exported_as_system_instructions(capture: bool, make_config: Any,
                                                                       tmp_path: Path, memory_sink: InMemoryBackend,
                                                                       receiver: Receiver) -> None:
    anthropic = pytest.importorskip("anthropic")
    adapter = pytest.importorskip("llamonitor_anthropic")
    from llamonitor.testing.fake_provider import FakeProvider

    cfg = make_config(tmp_path, storage={"backend": "memory"}, capture_content=capture,
                      content_redactor=lambda text: text.replace("hunter2", "***"))
    cfg.extensions["otlp"] = OTLPConfig(endpoint=receiver.url + "/v1/traces").model_dump()
    llamonitor.initialize_monitoring_sync(cfg)
    adapter.instrument_anthropic()
    try:
        with FakeProvider() as fake, anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="test",
                                                         max_retries=0) as client:
            client.messages.create(model="claude-3-5-haiku-latest", max_tokens=50,
                                   system=[{"type": "text", "text": "Be brief."},
                                           {"type": "text", "text": "Password: hunter2"}],
                                   messages=[{"role": "user", "content": "hi"}])
    finally:
        adapter.uninstrument_anthropic()
    assert llamonitor.flush_sync(10)
    wait_for(lambda: len(decode(receiver)[0]) == 1)
    a = decode(receiver)[0][0]["attrs"]
    (event,) = memory_sink.events
    if not capture:
        assert g.GEN_AI_SYSTEM_INSTRUCTIONS not in a and event.system_instructions is None
        return
    assert event.system_instructions == "Be brief.\nPassword: ***"
    assert json.loads(a[g.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief.\nPassword: ***"}]
    assert "hunter2" not in json.dumps(a)
