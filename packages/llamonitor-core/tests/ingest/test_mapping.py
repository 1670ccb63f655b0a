"""OTLP spans -> events, in process: decode, map, and the writer's build step (no server).

The receiver tests run the same path through a real ``llamonitor serve``; these pin the mapping's
values one by one, for every attribute family, with content capture off and on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from llamonitor.ingest import decode_body, map_spans
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.schema.events import MetricEvent
from llamonitor.transport.enrich import EventBuilder
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as g
from testkits.otlp import T0, TRACE, otlp_attr
from testkits.otlp import otlp_json_body as _body


def events_of(body: bytes, **config: Any) -> list[MetricEvent]:
    """What the writer stores for ``body`` (JSON OTLP) under a monitor config of ``config``."""
    result = map_spans(decode_body(body, "application/json"))
    builder = EventBuilder(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="unused"), **config))
    return list(builder.build_batch(result.records))


SYSTEM = json.dumps([{"type": "text", "content": "You are a billing bot. Token: hunter2"}])
CHAT = {g.GEN_AI_OPERATION_NAME: "chat", g.GEN_AI_PROVIDER_NAME: "openai", g.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        g.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18", g.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        g.GEN_AI_USAGE_OUTPUT_TOKENS: 200, g.GEN_AI_SYSTEM_INSTRUCTIONS: SYSTEM,
        g.GEN_AI_INPUT_MESSAGES: json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
        "gen_ai.request.temperature": 0.2}


def test_genai_chat_span_fields() -> None:
    (event,) = events_of(_body(("00000000000000a2", "chat gpt-4o-mini", CHAT, None)))
    assert (event.trace_id, event.span_id, event.parent_span_id) == (TRACE, "00000000000000a2", None)
    assert event.operation_type == "chat" and event.operation_name == "chat gpt-4o-mini"
    assert event.model == "gpt-4o-mini" and event.response_model == "gpt-4o-mini-2024-07-18"
    assert event.provider == "openai"
    assert event.usage is not None and (event.usage.input_tokens, event.usage.output_tokens,
                                        event.usage.total_tokens, event.usage.source) == (1000, 200, 1200, "provider")
    assert event.cost is not None and event.custom_attributes["cost_model"] == "gpt-4o-mini"
    assert event.start_time_ns == T0 and event.duration_ms == pytest.approx(250.0)
    attrs = event.custom_attributes
    assert attrs["service.name"] == "svc" and attrs["otel.scope.name"] == "test.scope"
    assert attrs["gen_ai.request.temperature"] == 0.2 and attrs[g.GEN_AI_OPERATION_NAME] == "chat"
    # attributes the event stores as fields are not repeated in its custom attributes
    assert not {g.GEN_AI_REQUEST_MODEL, g.GEN_AI_RESPONSE_MODEL, g.GEN_AI_PROVIDER_NAME, g.GEN_AI_USAGE_INPUT_TOKENS,
                g.GEN_AI_USAGE_OUTPUT_TOKENS} & set(attrs)
    assert not any(k.startswith(("gen_ai.input.", "gen_ai.system_instructions")) for k in attrs)
    # content capture is off by default: no content of any kind
    assert event.input_content is None and event.system_instructions is None


def test_content_and_system_instructions_only_with_capture_and_after_the_redactor() -> None:
    (event,) = events_of(_body(("00000000000000a2", "chat gpt-4o-mini", CHAT, None)), capture_content=True,
                         content_redactor=lambda text: text.replace("hunter2", "***"))
    assert event.system_instructions == "You are a billing bot. Token: ***"
    assert event.input_content is not None and "hi" in event.input_content


def test_only_a_response_model_stands_for_the_request() -> None:
    attrs = {g.GEN_AI_OPERATION_NAME: "chat", g.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06"}
    (event,) = events_of(_body(("00000000000000a1", "chat", attrs, None)))
    assert event.model == event.response_model == "gpt-4o-2024-08-06"


def test_openinference_request_model_from_invocation_parameters() -> None:
    attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini-2024-07-18", "llm.system": "openai",
             "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0}),
             "llm.token_count.prompt": 12, "llm.token_count.completion": 3, "session.id": "s-1",
             "agent.name": "triage"}
    (event,) = events_of(_body(("00000000000000c1", "ChatCompletion", attrs, None),
                               scope="openinference.instrumentation.openai"))
    assert event.model == "gpt-4o-mini" and event.response_model == "gpt-4o-mini-2024-07-18"
    assert event.operation_type == "chat" and event.provider == "openai" and event.session_id == "s-1"
    assert event.usage is not None and (event.usage.input_tokens, event.usage.output_tokens) == (12, 3)
    assert event.agent is not None and (event.agent.agent_name, event.agent.framework) == (
        "triage", "openinference.openai")
    assert not {"llm.model_name", "llm.system", "agent.name", "session.id"} & set(event.custom_attributes)
    assert "llm.invocation_parameters" not in event.custom_attributes  # content-like: never copied
    # without parameters naming it, llm.model_name is the model
    del attrs["llm.invocation_parameters"]
    (event,) = events_of(_body(("00000000000000c2", "ChatCompletion", attrs, None)))
    assert event.model == "gpt-4o-mini-2024-07-18" and event.response_model is None


def test_openllmetry_agent_inheritance_sessions_and_skips() -> None:
    workflow = {"traceloop.span.kind": "agent", "traceloop.entity.name": "planner",
                "traceloop.association.properties.session_id": "conv-7"}
    chat = {"llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.prompt_tokens": 5, "gen_ai.usage.completion_tokens": 2, "llm.usage.total_tokens": 7}
    http = {"http.request.method": "GET"}
    body = _body(("00000000000000d1", "planner.agent", workflow, None),
                 ("00000000000000d2", "openai.chat", chat, "00000000000000d1"),
                 ("00000000000000d3", "GET", http, "00000000000000d2"),
                 scope="opentelemetry.instrumentation.openai.v1")
    result = map_spans(decode_body(body, "application/json"))
    assert (len(result.records), result.skipped, result.rejected) == (2, 1, 0)
    agent, llm = events_of(body)
    assert agent.operation_type == "agent" and llm.operation_type == "chat"
    assert llm.agent is not None and llm.agent.agent_name == "planner"  # inherited from the parent
    assert llm.session_id == agent.session_id == "conv-7"
    assert llm.usage is not None and (llm.usage.input_tokens, llm.usage.output_tokens,
                                      llm.usage.total_tokens) == (5, 2, 7)
    assert llm.parent_span_id == "00000000000000d1"


def test_error_status_and_bad_span() -> None:
    body = json.loads(_body(("00000000000000e1", "chat", CHAT, None), ("00000000000000e2", "chat", CHAT, None)))
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["status"] = {"code": 2, "message": "rate limited"}
    spans[0]["events"] = [{"name": "exception", "attributes": [otlp_attr("exception.type", "openai.RateLimitError")]}]
    spans[1]["endTimeUnixNano"] = str(T0 - 1)
    result = map_spans(decode_body(json.dumps(body).encode(), "application/json"))
    assert result.rejected == 1 and "00000000000000e2" in result.errors[0]
    (event,) = EventBuilder(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="x"))).build_batch(
        result.records)
    assert event.error and event.error_type == "RateLimitError" and event.error_message == "rate limited"


def test_custom_attributes_are_bounded() -> None:
    from llamonitor.ingest.mapping import MAX_CUSTOM_ATTRIBUTES

    attrs = {**CHAT, **{f"app.extra.{i:03d}": i for i in range(200)}, "app.nested": "kept?"}
    (event,) = events_of(_body(("00000000000000f1", "chat", attrs, None)))
    custom = {k: v for k, v in event.custom_attributes.items() if k not in ("cost_model", "estimated_cost_usd")}
    assert len(custom) == MAX_CUSTOM_ATTRIBUTES
    assert custom["app.extra.000"] == 0 and "app.nested" not in custom  # attribute order: the first ones
    assert event.model == "gpt-4o-mini" and event.usage is not None  # mapping reads every attribute


def test_protobuf_attribute_values_of_every_kind() -> None:
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    values = [{"key": "s", "value": {"stringValue": "text"}}, {"key": "empty", "value": {"stringValue": ""}},
              {"key": "i", "value": {"intValue": "-42"}}, {"key": "d", "value": {"doubleValue": 0.5}},
              {"key": "b", "value": {"boolValue": True}}, {"key": "f", "value": {"boolValue": False}},
              {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "1"}]}}},
              {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "2"}}]}}},
              {"key": "raw", "value": {"bytesValue": "AAE="}}, {"key": "none", "value": {}}]
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "AAAAAAAAAKE=", "name": "x", "startTimeUnixNano": "1",
        "endTimeUnixNano": "2", "attributes": values}]}]}]}
    body = ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()
    (span,) = decode_body(body, "application/x-protobuf")
    assert span.attributes == {"s": "text", "empty": "", "i": -42, "d": 0.5, "b": True, "f": False,
                               "a": ["x", 1], "kv": {"n": 2}, "raw": "0001", "none": None}


def test_planned_scan_equals_the_attribute_by_attribute_scan() -> None:
    """Spans of one key sequence share a plan; its slots and custom attributes (in order, bounded,
    without the stored slots' winners) are exactly those of the per-attribute loop."""
    import random

    from llamonitor.ingest.mapping import MAX_CUSTOM_ATTRIBUTES, SLOTS, scan, scan_each

    rng = random.Random(5)
    mapped = sorted({k for table in SLOTS for k in table})
    content = ["input.value", "gen_ai.prompt.0.content", "llm.invocation_parameters", "output.value"]
    values = ["", None, 0, 3, 2.5, True, "x", "gpt-4o", "7"]
    for case in range(400):
        keys = rng.sample(mapped, rng.randint(0, 12)) + rng.sample(content, rng.randint(0, 2))
        keys += [f"app.k{i}" for i in range(rng.choice([0, 3, 70]))]
        rng.shuffle(keys)
        attrs = {k: rng.choice(values) for k in keys}
        for header in ({}, {"service.name": "s", "otel.scope.name": "t", "otel.span.kind": 3}):
            for _ in range(2):  # the second time through the cached plan
                planned, each = dict(header), dict(header)
                assert scan(attrs, planned) == scan_each(attrs, each), case
                assert list(planned.items()) == list(each.items()), case
                assert len(planned) <= MAX_CUSTOM_ATTRIBUTES + len(mapped) + len(header)
    nested = {g.GEN_AI_REQUEST_MODEL: "m", "app.list": [1, 2], "app.map": {"a": 1}, "app.s": "v"}
    planned, each = {}, {}
    assert scan(nested, planned) == scan_each(nested, each) and planned == each == {"app.s": "v"}


def test_token_counts_of_any_type_become_plain_ints_or_none() -> None:
    """Ints pass as they are; booleans, floats and numeric strings are converted; junk is absent."""
    from llamonitor.ingest import mapping

    found: list[Any] = [None] * 64
    found[mapping.S_INPUT], found[mapping.S_OUTPUT], found[mapping.S_TOTAL] = True, 7.9, None
    found[mapping.S_CACHED], found[mapping.S_CACHE_CREATION], found[mapping.S_REASONING] = "3", "x", 2
    usage = mapping.usage_of(found)
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (1, 7, 8)
    assert (usage.cached_input_tokens, usage.cache_creation_input_tokens, usage.reasoning_tokens) == (3, None, 2)
    assert type(usage.input_tokens) is int and type(usage.output_tokens) is int
    found[mapping.S_INPUT] = found[mapping.S_OUTPUT] = "junk"
    assert mapping.usage_of(found) is None


@pytest.mark.parametrize(("inp", "out", "total"), [(100, 20, None), (100, None, 130), (None, 5, None), ("7", 2, 9)])
def test_the_usual_spans_usage_built_positionally_is_the_keyword_one(inp: Any, out: Any, total: Any) -> None:
    """Counts without cache or reasoning take the positional constructor: every field where it belongs."""
    from llamonitor.ingest import mapping
    from llamonitor.schema.events import TokenUsage

    found: list[Any] = [None] * 64
    found[mapping.S_INPUT], found[mapping.S_OUTPUT], found[mapping.S_TOTAL] = inp, out, total
    i = None if inp is None else int(inp)
    expected = TokenUsage(input_tokens=i, output_tokens=out, total_tokens=total if total is not None
                          else (i or 0) + (out or 0), source="provider")
    assert mapping.usage_of(found) == expected
