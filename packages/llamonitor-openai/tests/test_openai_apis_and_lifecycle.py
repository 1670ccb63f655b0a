"""responses / embeddings / legacy completions / raw responses, and instrument / uninstrument."""

from __future__ import annotations

import gc
import subprocess
import sys
from typing import Any

import openai
import pytest
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor.testing.pytest_fixtures import MemoryMonitoring
from llamonitor_openai import instrument_openai, is_instrumented, uninstrument_openai

MSGS: list[Any] = [{"role": "user", "content": "Say hello"}]


def _one(mon: MemoryMonitoring) -> Any:
    events = mon.flush()
    assert len(events) == 1, events
    return events[0]


@pytest.mark.usefixtures("instrumented")
class TestOtherApis:
    def test_responses_create(self, client: openai.OpenAI, fake_provider: FakeProvider,
                              memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(input_tokens=100, output_tokens=20, cached_tokens=40, reasoning_tokens=5)
        r = client.responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=50)
        assert r.output_text == "Hello from the fake provider."
        event = _one(memory_monitoring)
        assert event.operation_type == "responses"
        u = event.usage
        assert (u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens) == (100, 20, 40, 5)
        assert event.custom_attributes["gen_ai.request.max_tokens"] == 50
        assert event.custom_attributes["finish_reason"] == "completed"

    def test_responses_stream_and_tool_calls(self, client: openai.OpenAI, fake_provider: FakeProvider,
                                             memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(input_tokens=9, output_tokens=2, model="gpt-4o-mini-2024-07-18")
        fake_provider.reply(tool_calls=[("get_time", {})])
        types = [e.type for e in client.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
        assert types[0] == "response.created" and types[-1] == "response.completed"
        with client.responses.stream(model="gpt-4o-mini", input="hi") as stream:
            final = stream.get_final_response()
        assert final.output[0].type == "function_call"
        first, second = memory_monitoring.flush()
        assert first.usage.input_tokens == 9 and first.usage.output_tokens == 2
        assert first.model == "gpt-4o-mini" and first.response_model == "gpt-4o-mini-2024-07-18"
        assert second.model == second.response_model == "gpt-4o-mini"
        assert second.custom_attributes["tool_calls"] == "get_time"
        assert len(fake_provider.requests) == 2

    async def test_async_responses(self, aclient: openai.AsyncOpenAI, memory_monitoring: MemoryMonitoring) -> None:
        await aclient.responses.create(model="gpt-4o-mini", input="hi")
        stream = await aclient.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        async for _ in stream:
            pass
        events = memory_monitoring.flush()
        assert [e.usage.total_tokens for e in events] == [19, 19]

    def test_embeddings(self, client: openai.OpenAI, fake_provider: FakeProvider,
                        memory_monitoring: MemoryMonitoring) -> None:
        fake_provider.reply(input_tokens=8)
        out = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=4)
        assert len(out.data) == 2
        event = _one(memory_monitoring)
        assert event.operation_type == "embeddings" and event.usage.input_tokens == 8
        assert event.usage.output_tokens == 0
        assert event.custom_attributes["gen_ai.request.embedding.dimensions"] == 4

    async def test_async_embeddings(self, aclient: openai.AsyncOpenAI, memory_monitoring: MemoryMonitoring) -> None:
        await aclient.embeddings.create(model="text-embedding-3-small", input="a")
        assert _one(memory_monitoring).usage.input_tokens == 12

    def test_legacy_completions(self, client: openai.OpenAI, fake_provider: FakeProvider,
                                memory_monitoring: MemoryMonitoring) -> None:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x")
        chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", stream=True))
        assert all(c.choices for c in chunks)  # injected usage chunk hidden
        events = memory_monitoring.flush()
        assert [e.operation_type for e in events] == ["text_completion"] * 2
        assert [e.usage.output_tokens for e in events] == [7, 7]

    async def test_async_legacy_stream(self, aclient: openai.AsyncOpenAI, memory_monitoring: MemoryMonitoring
                                       ) -> None:
        stream = await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", stream=True)
        assert [c async for c in stream][-1].choices
        assert _one(memory_monitoring).usage.input_tokens == 12

    def test_parse(self, client: openai.OpenAI, memory_monitoring: MemoryMonitoring) -> None:
        client.chat.completions.parse(model="gpt-4o-mini", messages=MSGS)
        assert _one(memory_monitoring).usage.total_tokens == 19

    def test_with_raw_response(self, client: openai.OpenAI, fake_provider: FakeProvider,
                               memory_monitoring: MemoryMonitoring) -> None:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MSGS)
        assert raw.headers["x-request-id"] == "req_fake"
        assert raw.parse().choices[0].message.content == "Hello from the fake provider."
        raw_stream = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MSGS,
                                                                       stream=True)
        assert all(c.choices for c in raw_stream.parse())
        events = memory_monitoring.flush()
        assert [e.usage.total_tokens for e in events] == [19, 19]
        assert len(fake_provider.requests) == 2

    async def test_async_with_raw_response(self, aclient: openai.AsyncOpenAI,
                                           memory_monitoring: MemoryMonitoring) -> None:
        raw = await aclient.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MSGS)
        assert raw.parse().usage.total_tokens == 19
        assert _one(memory_monitoring).usage.total_tokens == 19

    def test_with_streaming_response(self, client: openai.OpenAI, memory_monitoring: MemoryMonitoring) -> None:
        with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MSGS) as r:
            assert r.parse().usage.total_tokens == 19
        event = _one(memory_monitoring)
        assert event.custom_attributes["usage_unavailable"] == "streaming_response"


def test_no_sdk_import_until_instrumented() -> None:
    code = "import sys, llamonitor_openai; assert 'openai' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_instrument_is_idempotent_and_uninstrument_restores_exactly() -> None:
    from openai.resources.chat.completions.completions import AsyncCompletions, Completions
    from openai.resources.embeddings import Embeddings

    before = (Completions.__dict__["create"], AsyncCompletions.__dict__["create"], Embeddings.__dict__["create"])
    assert instrument_openai() is True
    wrapped = Completions.__dict__["create"]
    assert wrapped is not before[0] and is_instrumented()
    assert instrument_openai() is False  # second call: no double wrapping
    assert Completions.__dict__["create"] is wrapped
    uninstrument_openai()
    after = (Completions.__dict__["create"], AsyncCompletions.__dict__["create"], Embeddings.__dict__["create"])
    assert all(a is b for a, b in zip(before, after, strict=True)) and not is_instrumented()
    uninstrument_openai()  # twice is fine


def test_after_uninstrument_no_event(client: openai.OpenAI, fake_provider: FakeProvider,
                                     memory_monitoring: MemoryMonitoring) -> None:
    instrument_openai()
    uninstrument_openai()
    client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
    assert memory_monitoring.flush() == [] and len(fake_provider.requests) == 2
    assert "stream_options" not in fake_provider.requests[1].body


def test_not_initialised_monitoring_passes_through(client: openai.OpenAI, fake_provider: FakeProvider) -> None:
    instrument_openai()
    try:
        assert client.chat.completions.create(model="gpt-4o-mini", messages=MSGS).usage.total_tokens == 19
    finally:
        uninstrument_openai()


def test_instrumentation_failure_never_breaks_the_call(client: openai.OpenAI, memory_monitoring: MemoryMonitoring,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from llamonitor_openai import _call

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("extraction broke")

    monkeypatch.setattr(_call, "summarize", broken)
    monkeypatch.setattr(_call, "usage_from", broken)
    instrument_openai()
    try:
        r = client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
        assert r.usage.total_tokens == 19
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
        assert chunks[1].choices[0].delta.content == "Hello"
        assert all(c.choices for c in chunks)  # still hides the chunk it added
    finally:
        uninstrument_openai()
    assert "llamonitor-openai" in caplog.text
    gc.collect()


def test_concurrent_instrument_patches_once() -> None:
    import threading

    from openai.resources.chat.completions.completions import Completions

    original = Completions.__dict__["create"]
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        results.append(instrument_openai())

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(results) == [False] * 7 + [True]
        assert Completions.__dict__["create"].__wrapped__ is original  # wrapped exactly once
    finally:
        uninstrument_openai()
    assert Completions.__dict__["create"] is original
