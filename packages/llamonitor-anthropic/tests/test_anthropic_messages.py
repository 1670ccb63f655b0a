"""messages.create / stream against the fake provider: usage normalisation, streams, errors."""

from __future__ import annotations

import gc
import subprocess
import sys
from typing import Any

import anthropic
import pytest
from llamonitor import monitor_llm, monitoring_agent
from llamonitor.pricing import calculate_cost
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import MemoryMonitoring
from llamonitor.tracing import suppress_instrumentation
from llamonitor_anthropic import instrument_anthropic, is_instrumented, uninstrument_anthropic

MODEL = "claude-haiku-4-5"
MSGS: list[Any] = [{"role": "user", "content": "Say hello"}]


def _one(mon: MemoryMonitoring) -> Any:
    events = mon.flush()
    assert len(events) == 1, events
    return events[0]


def _check_cached_usage(event: Any) -> None:
    u = event.usage
    # server: input 100 (uncached), cache_creation 300, cache_read 600, output 50
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (1000, 50, 1050)
    assert (u.cached_input_tokens, u.cache_creation_input_tokens, u.source) == (600, 300, "provider")
    expected = calculate_cost(MODEL, 1000, 50, cached_input_tokens=600, cache_creation_input_tokens=300)
    assert expected is not None and event.cost.total_cost_usd == expected.total_cost_usd
    no_cache = calculate_cost(MODEL, 1000, 50)
    assert no_cache is not None and expected.total_cost_usd != no_cache.total_cost_usd


CACHED = dict(input_tokens=100, cache_creation_tokens=300, cached_tokens=600, output_tokens=50)


@pytest.mark.usefixtures("instrumented")
class TestMessages:
    def test_create(self, client: anthropic.Anthropic, fake_provider: FakeProvider,
                    memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(**CACHED)
        msg = client.messages.create(model=MODEL, max_tokens=64, messages=MSGS)
        assert msg.content[0].text == "Hello from the fake provider."
        event = _one(memory_monitoring)
        assert event.provider == "anthropic" and event.operation_type == "chat" and event.model == MODEL
        _check_cached_usage(event)
        attrs = event.custom_attributes
        assert attrs["finish_reason"] == "end_turn" and attrs["gen_ai.request.max_tokens"] == 64
        assert attrs["gen_ai.response.id"] == "msg_fake123"
        assert len(fake_provider.requests) == 1 and event.input_content is None

    def test_request_and_response_model_apart(self, client: anthropic.Anthropic, fake_provider: FakeProvider,
                                              memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(text="a", model="claude-3-5-haiku-20241022", input_tokens=1000, output_tokens=100)
        client.messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=MSGS)
        fake_provider.reply(text="b", model="claude-3-5-haiku-20241022")
        list(client.messages.create(model="claude-3-5-haiku-latest", max_tokens=64, messages=MSGS, stream=True))
        for event in memory_monitoring.flush():
            assert event.model == "claude-3-5-haiku-latest"
            assert event.response_model == "claude-3-5-haiku-20241022"
            assert "gen_ai.response.model" not in event.custom_attributes
            assert event.cost is not None and event.custom_attributes["cost_model"] == "claude-3-5-haiku"

    async def test_async_create_with_tools(self, aclient: anthropic.AsyncAnthropic, fake_provider: FakeProvider,
                                           memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(tool_calls=[("get_weather", {"city": "Paris"})])
        msg = await aclient.messages.create(model=MODEL, max_tokens=64, messages=MSGS)
        assert msg.stop_reason == "tool_use"
        attrs = _one(memory_monitoring).custom_attributes
        assert attrs["tool_calls"] == "get_weather" and attrs["finish_reason"] == "tool_use"

    def test_create_stream_combines_start_and_delta_usage(self, client: anthropic.Anthropic,
                                                          fake_provider: FakeProvider,
                                                          memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(**CACHED)
        types = [e.type for e in client.messages.create(model=MODEL, max_tokens=64, messages=MSGS, stream=True)]
        assert types[0] == "message_start" and types[-1] == "message_stop"
        event = _one(memory_monitoring)
        _check_cached_usage(event)
        assert event.custom_attributes["stream_completed"] is True
        assert event.custom_attributes["time_to_first_token_ms"] >= 0

    async def test_async_create_stream(self, aclient: anthropic.AsyncAnthropic, fake_provider: FakeProvider,
                                       memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(**CACHED)
        stream = await aclient.messages.create(model=MODEL, max_tokens=64, messages=MSGS, stream=True)
        async for _ in stream:
            pass
        _check_cached_usage(_one(memory_monitoring))

    def test_stream_helper(self, client: anthropic.Anthropic, fake_provider: FakeProvider,
                           memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(**CACHED)
        with client.messages.stream(model=MODEL, max_tokens=64, messages=MSGS) as stream:
            assert "".join(stream.text_stream) == "Hello from the fake provider."
            assert stream.get_final_message().usage.output_tokens == 50
        _check_cached_usage(_one(memory_monitoring))
        assert len(fake_provider.requests) == 1

    async def test_async_stream_helper(self, aclient: anthropic.AsyncAnthropic, fake_provider: FakeProvider,
                                       memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(**CACHED)
        async with aclient.messages.stream(model=MODEL, max_tokens=64, messages=MSGS) as stream:
            text = await stream.get_final_text()
        assert text == "Hello from the fake provider."
        _check_cached_usage(_one(memory_monitoring))

    def test_stream_helper_partial(self, client: anthropic.Anthropic, memory_monitoring: MemoryMonitoring) -> None:
        with client.messages.stream(model=MODEL, max_tokens=64, messages=MSGS) as stream:
            for _ in stream:
                break
        event = _one(memory_monitoring)
        assert event.custom_attributes["stream_completed"] is False
        assert event.usage.input_tokens == 12  # message_start already gave the input side

    def test_stream_partial_closed_and_abandoned(self, client: anthropic.Anthropic,
                                                 memory_monitoring: MemoryMonitoring) -> None:
        stream = client.messages.create(model=MODEL, max_tokens=64, messages=MSGS, stream=True)
        next(iter(stream))
        stream.close()
        abandoned = client.messages.create(model=MODEL, max_tokens=64, messages=MSGS, stream=True)
        for _ in abandoned:
            break
        del abandoned
        gc.collect()
        events = memory_monitoring.flush()
        assert [e.custom_attributes["stream_completed"] for e in events] == [False, False]

    async def test_async_stream_abandoned(self, aclient: anthropic.AsyncAnthropic,
                                          memory_monitoring: MemoryMonitoring) -> None:
        stream = await aclient.messages.create(model=MODEL, max_tokens=64, messages=MSGS, stream=True)
        async for _ in stream:
            break
        await stream.close()
        assert _one(memory_monitoring).custom_attributes["stream_completed"] is False

    def test_with_raw_response(self, client: anthropic.Anthropic, memory_monitoring: MemoryMonitoring) -> None:
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=MSGS)
        assert raw.headers["request-id"] == "req_fake" and raw.parse().usage.input_tokens == 12
        assert _one(memory_monitoring).usage.input_tokens == 12

    def test_beta_messages(self, client: anthropic.Anthropic, memory_monitoring: MemoryMonitoring) -> None:
        client.beta.messages.create(model=MODEL, max_tokens=64, messages=MSGS)
        with client.beta.messages.stream(model=MODEL, max_tokens=64, messages=MSGS) as stream:
            stream.until_done()
        assert [e.usage.total_tokens for e in memory_monitoring.flush()] == [19, 19]

    @pytest.mark.parametrize(("status", "exc_type"), [(500, anthropic.InternalServerError),
                                                      (400, anthropic.BadRequestError),
                                                      (429, anthropic.RateLimitError)])
    def test_errors_are_reraised_unchanged(self, client: anthropic.Anthropic, fake_provider: FakeProvider,
                                           memory_monitoring: MemoryMonitoring, status: int, exc_type: type) -> None:
        fake_provider.error(status, "kaboom", retry_after=0)
        with pytest.raises(exc_type) as info:
            client.messages.create(model=MODEL, max_tokens=64, messages=MSGS)
        assert type(info.value) is exc_type and "kaboom" in str(info.value)
        event = _one(memory_monitoring)
        assert event.error_type == exc_type.__name__
        assert event.custom_attributes["http.response.status_code"] == status

    def test_stream_helper_error_on_enter(self, client: anthropic.Anthropic, fake_provider: FakeProvider,
                                          memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.error(500)
        with pytest.raises(anthropic.InternalServerError), \
                client.messages.stream(model=MODEL, max_tokens=64, messages=MSGS):
            pass
        assert _one(memory_monitoring).error_type == "InternalServerError"

    def test_429_retried_by_sdk_is_one_event(self, fake_provider: FakeProvider,
                                             memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.error(429, retry_after=0)
        with anthropic.Anthropic(base_url=fake_provider.anthropic_base_url, api_key="test", max_retries=1) as c:
            c.messages.create(model=MODEL, max_tokens=64, messages=MSGS)
        assert len(fake_provider.requests) == 2
        assert not _one(memory_monitoring).error

    def test_nested_with_agent_identity_and_suppression(self, client: anthropic.Anthropic,
                                                        fake_provider: FakeProvider,
                                                        memory_monitoring: MemoryMonitoring) -> None:
        @monitor_llm("answer")
        def answer() -> None:
            client.messages.create(model=MODEL, max_tokens=64, messages=MSGS)

        with monitoring_agent("writer", role="writing"):
            answer()
        with suppress_instrumentation():
            client.messages.create(model=MODEL, max_tokens=64, messages=MSGS)
            with client.messages.stream(model=MODEL, max_tokens=64, messages=MSGS) as s:
                s.until_done()
        events = {e.operation_type: e for e in memory_monitoring.flush()}
        assert set(events) == {"llm_call", "chat"} and len(fake_provider.requests) == 3
        assert events["chat"].parent_span_id == events["llm_call"].span_id
        assert events["chat"].agent.agent_name == "writer"

    @pytest.mark.monitor_config(capture_content=True)
    def test_content_capture(self, client: anthropic.Anthropic, memory_monitoring: MemoryMonitoring) -> None:
        client.messages.create(model=MODEL, max_tokens=64, messages=MSGS, system="be brief")
        with client.messages.stream(model=MODEL, max_tokens=64, messages=MSGS) as s:
            s.until_done()
        first, second = memory_monitoring.flush()
        assert first.input_content == "system: be brief\nuser: Say hello"
        assert first.output_content == second.output_content == "Hello from the fake provider."


def test_no_sdk_import_until_instrumented() -> None:
    code = "import sys, llamonitor_anthropic; assert 'anthropic' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_idempotent_uninstrument_restores_and_records_nothing(client: anthropic.Anthropic,
                                                              fake_provider: FakeProvider,
                                                              memory_monitoring: MemoryMonitoring) -> None:
    from anthropic.resources.messages.messages import AsyncMessages, Messages

    before = [cls.__dict__[m] for cls in (Messages, AsyncMessages) for m in ("create", "stream")]
    assert instrument_anthropic() is True and instrument_anthropic() is False and is_instrumented()
    uninstrument_anthropic()
    after = [cls.__dict__[m] for cls in (Messages, AsyncMessages) for m in ("create", "stream")]
    assert all(a is b for a, b in zip(before, after, strict=True))
    client.messages.create(model=MODEL, max_tokens=64, messages=MSGS)
    assert memory_monitoring.flush() == [] and len(fake_provider.requests) == 1
