"""chat.completions against the fake provider: sync / async, streams, errors, usage and cost."""

from __future__ import annotations

import gc
from typing import Any

import openai
import pytest
from llamonitor import monitor_llm, monitoring_agent
from llamonitor.pricing import calculate_cost
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import MemoryMonitoring
from llamonitor.tracing import suppress_instrumentation

pytestmark = pytest.mark.usefixtures("instrumented")
MSGS: list[Any] = [{"role": "user", "content": "Say hello"}]


def _one(mon: MemoryMonitoring) -> Any:
    events = mon.flush()
    assert len(events) == 1, events
    return events[0]


def test_create_records_usage_cost_and_attributes(client: openai.OpenAI, fake_provider: FakeProvider,
                                                  memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(input_tokens=1000, output_tokens=500, cached_tokens=200, reasoning_tokens=50,
                        model="gpt-4o-mini-2024-07-18")
    result = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, temperature=0.3, max_tokens=64)
    assert result.choices[0].message.content == "Hello from the fake provider."
    event = _one(memory_monitoring)
    assert len(fake_provider.requests) == 1
    assert event.provider == "openai" and event.operation_type == "chat"
    # the model asked for and the model that answered, kept apart
    assert event.model == "gpt-4o-mini" and event.response_model == "gpt-4o-mini-2024-07-18"
    u = event.usage
    assert (u.input_tokens, u.output_tokens, u.total_tokens, u.cached_input_tokens, u.reasoning_tokens) == (
        1000, 500, 1500, 200, 50)
    assert u.source == "provider"
    expected = calculate_cost("gpt-4o-mini-2024-07-18", 1000, 500, cached_input_tokens=200, reasoning_tokens=50)
    assert expected is not None and event.cost.total_cost_usd == expected.total_cost_usd
    assert event.custom_attributes["cost_model"] == "gpt-4o-mini"  # priced by the response model's entry
    attrs = event.custom_attributes
    assert attrs["gen_ai.request.temperature"] == 0.3 and attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["finish_reason"] == "stop" and attrs["gen_ai.response.id"] == "chatcmpl-fake123"
    assert "gen_ai.request.model" not in attrs and "gen_ai.response.model" not in attrs  # fields, not attributes
    assert event.input_content is None and event.output_content is None  # capture is off by default
    assert not event.error


def test_tool_calls_are_recorded(client: openai.OpenAI, fake_provider: FakeProvider,
                                 memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(tool_calls=[("get_weather", {"city": "Paris"}), ("search", {"q": "x"})])
    client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    attrs = _one(memory_monitoring).custom_attributes
    assert attrs["tool_calls"] == "get_weather,search" and attrs["tool_call_count"] == 2
    assert attrs["finish_reason"] == "tool_calls"


async def test_async_create(aclient: openai.AsyncOpenAI, fake_provider: FakeProvider,
                            memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(input_tokens=30, output_tokens=3)
    await aclient.chat.completions.create(model="gpt-4o", messages=MSGS)
    event = _one(memory_monitoring)
    assert event.usage.input_tokens == 30 and event.usage.output_tokens == 3 and event.model == "gpt-4o"


def test_stream_full_hides_injected_usage_chunk(client: openai.OpenAI, fake_provider: FakeProvider,
                                                memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(input_tokens=40, output_tokens=6, cached_tokens=8, model="gpt-4o-mini-2024-07-18")
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True)
    chunks = list(stream)
    assert all(c.choices for c in chunks)  # the caller never sees the usage-only chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the fake provider."
    assert fake_provider.requests[0].body["stream_options"] == {"include_usage": True}
    event = _one(memory_monitoring)
    assert (event.usage.input_tokens, event.usage.output_tokens, event.usage.cached_input_tokens) == (40, 6, 8)
    assert event.model == "gpt-4o-mini" and event.response_model == "gpt-4o-mini-2024-07-18"
    assert event.custom_attributes["stream_completed"] is True
    assert event.custom_attributes["time_to_first_token_ms"] >= 0


def test_stream_caller_asked_for_usage_keeps_the_chunk(client: openai.OpenAI, memory_monitoring: MemoryMonitoring
                                                       ) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 19
    assert _one(memory_monitoring).usage.total_tokens == 19


def test_stream_without_ensure_usage(client: openai.OpenAI, fake_provider: FakeProvider,
                                     memory_monitoring: MemoryMonitoring) -> None:
    from llamonitor_openai import instrument_openai

    instrument_openai(ensure_stream_usage=False)  # already instrumented: only updates options
    try:
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
    finally:
        instrument_openai()
    assert "stream_options" not in fake_provider.requests[0].body
    assert _one(memory_monitoring).usage is None


def test_stream_partial_then_closed(client: openai.OpenAI, memory_monitoring: MemoryMonitoring) -> None:
    with client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True) as stream:
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
        assert stream.response.status_code == 200  # attributes of the real Stream are proxied
    assert isinstance(stream, openai.Stream)
    event = _one(memory_monitoring)
    assert event.custom_attributes["stream_completed"] is False and not event.error


def test_stream_abandoned_is_recorded_on_gc(client: openai.OpenAI, memory_monitoring: MemoryMonitoring) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True)
    for _ in stream:
        break
    del stream
    gc.collect()
    event = _one(memory_monitoring)
    assert event.custom_attributes["stream_completed"] is False


async def test_async_stream_full_and_partial(aclient: openai.AsyncOpenAI, fake_provider: FakeProvider,
                                             memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(input_tokens=21, output_tokens=4)
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True)
    texts = [c.choices[0].delta.content async for c in stream]
    assert texts[1] == "Hello"
    partial = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True)
    async with partial:
        async for _ in partial:
            break
    events = memory_monitoring.flush()
    assert len(events) == 2 and len(fake_provider.requests) == 2
    full = next(e for e in events if e.custom_attributes["stream_completed"])
    assert full.usage.input_tokens == 21 and full.usage.output_tokens == 4


def test_stream_helper(client: openai.OpenAI, fake_provider: FakeProvider,
                       memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(input_tokens=11, output_tokens=5)
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MSGS) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from the fake provider."
    event = _one(memory_monitoring)
    assert event.usage.input_tokens == 11 and len(fake_provider.requests) == 1


async def test_async_stream_helper(aclient: openai.AsyncOpenAI, memory_monitoring: MemoryMonitoring) -> None:
    async with aclient.chat.completions.stream(model="gpt-4o-mini", messages=MSGS) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content
    assert _one(memory_monitoring).usage.total_tokens == 19


def test_streamed_tool_calls(client: openai.OpenAI, fake_provider: FakeProvider,
                             memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(tool_calls=[("lookup", {"id": 1})])
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
    attrs = _one(memory_monitoring).custom_attributes
    assert attrs["tool_calls"] == "lookup" and attrs["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(("status", "exc_type"), [(500, openai.InternalServerError), (400, openai.BadRequestError)])
def test_errors_are_reraised_unchanged(client: openai.OpenAI, fake_provider: FakeProvider,
                                       memory_monitoring: MemoryMonitoring, status: int, exc_type: type) -> None:
    fake_provider.error(status, "boom")
    with pytest.raises(exc_type) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    event = _one(memory_monitoring)
    assert event.error and event.error_type == exc_type.__name__
    assert event.custom_attributes["http.response.status_code"] == status
    assert "boom" in (event.error_message or "") and "boom" in str(info.value)


def test_exception_object_is_the_sdks(client: openai.OpenAI, fake_provider: FakeProvider,
                                      memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.error(500)
    uninstrumented: list[BaseException] = []
    from llamonitor_openai import uninstrument_openai

    caught = None
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    except openai.InternalServerError as exc:
        caught = exc
    assert caught is not None and caught.__traceback__ is not None
    uninstrument_openai()
    fake_provider.error(500)
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    except openai.InternalServerError as exc:
        uninstrumented.append(exc)
    assert type(uninstrumented[0]) is type(caught)


def test_rate_limit_with_sdk_retries_is_one_event(fake_provider: FakeProvider,
                                                  memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.error(429, "slow down", retry_after=0)
    with openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="test", max_retries=2) as c:
        c.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert len(fake_provider.requests) == 2  # one retry by the SDK ...
    event = _one(memory_monitoring)  # ... one logical call, one event
    assert not event.error and event.usage.total_tokens == 19


def test_rate_limit_exhausted(client: openai.OpenAI, fake_provider: FakeProvider,
                              memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.error(429, "slow down", retry_after=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert info.value.response.headers["retry-after"] == "0"
    event = _one(memory_monitoring)
    assert event.error_type == "RateLimitError" and event.custom_attributes["http.response.status_code"] == 429
    assert event.custom_attributes["retries"] == 0


def test_timeout_and_connection_errors(fake_provider: FakeProvider, memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(delay=0.5)
    with openai.OpenAI(base_url=fake_provider.openai_base_url, api_key="test", max_retries=0, timeout=0.05) as c, \
            pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    with openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="test", max_retries=0) as c, \
            pytest.raises(openai.APIConnectionError):
        c.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    types = sorted(e.error_type for e in memory_monitoring.flush())
    assert types == ["APIConnectionError", "APITimeoutError"]


def test_nested_under_monitor_llm_with_agent_identity(client: openai.OpenAI,
                                                      memory_monitoring: MemoryMonitoring) -> None:
    @monitor_llm("plan")
    def plan() -> str:
        r = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
        return r.choices[0].message.content or ""

    with monitoring_agent("planner", role="planning", framework="custom"):
        plan()
    events = {e.operation_type: e for e in memory_monitoring.flush()}
    outer, chat = events["llm_call"], events["chat"]
    assert chat.parent_span_id == outer.span_id and chat.trace_id == outer.trace_id
    assert chat.agent is not None and chat.agent.agent_name == "planner"


def test_suppression_records_nothing(client: openai.OpenAI, fake_provider: FakeProvider,
                                     memory_monitoring: MemoryMonitoring) -> None:
    with suppress_instrumentation():
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
    assert memory_monitoring.flush() == []
    assert len(fake_provider.requests) == 2
    assert "stream_options" not in fake_provider.requests[1].body  # the request is untouched too


@pytest.mark.monitor_config(capture_content=True, content_redactor=lambda t: t.replace("hello", "[X]"))
def test_content_capture_follows_config_and_redactor(client: openai.OpenAI, fake_provider: FakeProvider,
                                                     memory_monitoring: MemoryMonitoring) -> None:
    fake_provider.reply(text="hello world")
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "say hello"}])
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
    client.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "system", "content": "Always say hello."},
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "hi"}])
    client.responses.create(model="gpt-4o-mini", instructions="Greet with hello.", input="hi")
    first, second, third, fourth = memory_monitoring.flush()
    assert first.input_content == "user: say [X]" and first.output_content == "[X] world"
    assert first.system_instructions is None and second.system_instructions is None
    assert second.output_content == "Hello from the fake provider."
    # system / developer messages and the Responses API's instructions, through the redactor
    assert third.system_instructions == "Always say [X].\nBe brief."
    assert fourth.system_instructions == "Greet with [X]."


@pytest.mark.monitor_config(capture_content=True)
def test_content_capture_can_be_forced_off(client: openai.OpenAI, memory_monitoring: MemoryMonitoring) -> None:
    from llamonitor_openai import instrument_openai

    instrument_openai(capture_content=False)
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    finally:
        instrument_openai()
    event = _one(memory_monitoring)
    assert event.input_content is None and event.output_content is None and event.system_instructions is None


def test_content_capture_can_be_forced_on(client: openai.OpenAI, fake_provider: FakeProvider,
                                          memory_monitoring: MemoryMonitoring) -> None:
    from llamonitor_openai import instrument_openai

    fake_provider.reply(text="forced reply")
    instrument_openai(capture_content=True)  # the monitor config keeps capture off
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "system", "content": "be kind"},
                                                                      {"role": "user", "content": "hi there"}])
    finally:
        instrument_openai()
    event = _one(memory_monitoring)
    assert event.input_content == "system: be kind\nuser: hi there" and event.output_content == "forced reply"
    assert event.system_instructions == "be kind"


async def test_async_stream_abandoned_is_recorded_on_gc(aclient: openai.AsyncOpenAI, fake_provider: FakeProvider,
                                                        memory_monitoring: MemoryMonitoring) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True)
    async for _ in stream:
        break
    response = stream.response
    del stream
    gc.collect()
    await response.aclose()
    event = _one(memory_monitoring)
    assert event.custom_attributes["stream_completed"] is False and len(fake_provider.requests) == 1
