"""@monitor_llm on every kind of callable; the user's call is never changed by monitoring."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import llamonitor
import pytest
from llamonitor import (
    get_current_span_id,
    monitor_llm,
    monitoring_agent,
    monitoring_session,
    wrap_with_context,
)
from llamonitor.testing import InMemoryBackend


def events_by_name(sink: InMemoryBackend) -> dict[str, list[Any]]:
    assert llamonitor.flush_sync(10)
    out: dict[str, list[Any]] = {}
    for e in sink.events:
        out.setdefault(e.operation_name, []).append(e)
    return out


class Boom(Exception):
    pass


def test_results_are_returned_untouched_and_exceptions_propagate_unchanged(memory_config, memory_sink) -> None:
    llamonitor.initialize_monitoring_sync(memory_config)
    marker = object()
    raised = Boom("exact message")

    @monitor_llm("ok", measure_text=True)
    def ok() -> object:
        return marker

    @monitor_llm("bad")
    def bad() -> None:
        raise raised

    @monitor_llm("abad")
    async def abad() -> None:
        raise raised

    assert ok() is marker
    with pytest.raises(Boom) as info:
        bad()
    assert info.value is raised
    assert traceback.extract_tb(info.tb)[-1].name == "bad"  # the user's frame is still on top
    with pytest.raises(Boom) as ainfo:
        asyncio.run(abad())
    assert ainfo.value is raised
    got = events_by_name(memory_sink)
    for name in ("bad", "abad"):
        (event,) = got[name]
        assert event.error and event.error_type == "Boom" and event.error_message == "exact message"
    assert got["ok"][0].error is False


def test_generator_stream_span_covers_the_stream_and_children_nest(memory_config, memory_sink) -> None:
    llamonitor.initialize_monitoring_sync(memory_config)
    seen_parent: list[str | None] = []

    @monitor_llm("child")
    def child() -> str:
        seen_parent.append(get_current_span_id())
        return "x"

    @monitor_llm("stream", measure_text=True)
    def stream(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            child()
            yield f"tok{i} "
        return "done"

    outside: list[str | None] = []
    gen = stream(3)
    chunks = []
    for chunk in gen:
        outside.append(get_current_span_id())  # the consumer never sees our span
        chunks.append(chunk)
    assert chunks == ["tok0 ", "tok1 ", "tok2 "]
    assert outside == [None, None, None]
    got = events_by_name(memory_sink)
    (span,) = got["stream"]
    assert [c.parent_span_id for c in got["child"]] == [span.span_id] * 3
    assert span.custom_attributes["stream_status"] == "completed"
    assert span.custom_attributes["stream_chunks"] == 3
    assert span.text_metrics is not None and span.text_metrics.output_char_count == len("".join(chunks))


def test_generator_return_value_send_and_throw_are_forwarded(memory_config, memory_sink) -> None:
    llamonitor.initialize_monitoring_sync(memory_config)

    @monitor_llm("echo")
    def echo():  # type: ignore[no-untyped-def]
        received = []
        while True:
            try:
                value = yield len(received)
            except KeyError:
                value = "thrown"
            if value is None:
                return received
            received.append(value)

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(KeyError()) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == ["a", "thrown"]


def test_abandoned_and_failing_streams_still_end_their_span(memory_config, memory_sink) -> None:
    llamonitor.initialize_monitoring_sync(memory_config)

    @monitor_llm("abandoned")
    def forever():  # type: ignore[no-untyped-def]
        i = 0
        while True:
            yield i
            i += 1

    @monitor_llm("failing")
    def failing():  # type: ignore[no-untyped-def]
        yield 1
        raise Boom("mid-stream")

    gen = forever()
    for i in gen:
        if i == 2:
            break
    del gen
    with pytest.raises(Boom):
        list(failing())
    got = events_by_name(memory_sink)
    assert got["abandoned"][0].custom_attributes["stream_status"] == "abandoned"
    assert got["abandoned"][0].custom_attributes["stream_chunks"] == 3
    fail = got["failing"][0]
    assert fail.error and fail.error_type == "Boom" and fail.custom_attributes["stream_status"] == "error"


def test_async_generator_stream(memory_config, memory_sink) -> None:
    @monitor_llm("astream", measure_text=True)
    async def astream(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            await asyncio.sleep(0)
            yield f"w{i}"

    @monitor_llm("aabandon")
    async def aabandon():  # type: ignore[no-untyped-def]
        while True:
            yield 1

    async def main() -> list[str]:
        await llamonitor.initialize_monitoring(memory_config)
        out = [c async for c in astream(4)]
        agen = aabandon()
        await agen.__anext__()
        await agen.aclose()
        return out

    assert asyncio.run(main()) == ["w0", "w1", "w2", "w3"]
    got = events_by_name(memory_sink)
    assert got["astream"][0].custom_attributes["stream_chunks"] == 4
    assert got["astream"][0].text_metrics.output_char_count == 8
    assert got["aabandon"][0].custom_attributes["stream_status"] == "abandoned"


def test_methods_classmethods_staticmethods(memory_config, memory_sink) -> None:
    llamonitor.initialize_monitoring_sync(memory_config)

    class Agent:
        factor = 3

        @monitor_llm("method")
        def method(self, x: int) -> int:
            return x * self.factor

        @monitor_llm("cm")
        @classmethod
        def cm(cls, x: int) -> int:
            return x * cls.factor

        @monitor_llm("sm")
        @staticmethod
        def sm(x: int) -> int:
            return x + 1

        @monitor_llm("amethod")
        async def amethod(self, x: int) -> int:
            return x

    a = Agent()
    assert a.method(2) == 6 and Agent.cm(2) == 6 and a.cm(1) == 3 and Agent.sm(1) == 2
    assert asyncio.run(a.amethod(5)) == 5
    got = events_by_name(memory_sink)
    assert {k: len(v) for k, v in got.items()} == {"method": 1, "cm": 2, "sm": 1, "amethod": 1}


def test_bare_decorator_uses_function_name_and_keeps_metadata() -> None:
    @monitor_llm
    async def summarise(text: str) -> str:
        """Doc."""
        return text

    assert summarise.__name__ == "summarise" and summarise.__doc__ == "Doc."
    assert summarise.__llamonitor_spec__.operation_name == "summarise"  # type: ignore[attr-defined]
    assert asyncio.run(summarise("x")) == "x"  # not initialised: runs untouched


def test_context_carried_into_threads_and_concurrent_tasks(memory_config, memory_sink) -> None:
    @monitor_llm("parent")
    async def parent() -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(2) as pool:
            await loop.run_in_executor(pool, wrap_with_context(leaf))
        await asyncio.gather(branch("a"), branch("b"))

    @monitor_llm("leaf")
    def leaf() -> None:
        pass

    @monitor_llm("branch")
    async def branch(name: str) -> None:
        await asyncio.sleep(0.01)
        await inner()

    @monitor_llm("inner")
    async def inner() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        await llamonitor.initialize_monitoring(memory_config)
        with monitoring_session("s1"), monitoring_agent("planner", role="planning"):
            await parent()

    asyncio.run(main())
    got = events_by_name(memory_sink)
    p = got["parent"][0]
    assert got["leaf"][0].parent_span_id == p.span_id
    branch_ids = {b.span_id for b in got["branch"]}
    assert {b.parent_span_id for b in got["branch"]} == {p.span_id}
    assert {i.parent_span_id for i in got["inner"]} == branch_ids  # parallel branches keep their parents
    assert {e.session_id for e in memory_sink.events} == {"s1"}
    assert {e.trace_id for e in memory_sink.events} == {p.trace_id}
    assert {e.agent.agent_name for e in memory_sink.events} == {"planner"}


class Cyclic:
    def __init__(self) -> None:
        self.me = self


class BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    __repr__ = __str__


def hostile_values() -> list[Any]:
    cyc: dict[str, Any] = {"text": "hello"}
    cyc["self"] = cyc
    lst: list[Any] = ["a"]
    lst.append(lst)
    return [cyc, lst, Cyclic(), BadStr(), b"\x00\xff" * 1000, "x" * 10_000_000,
            {"choices": [BadStr()]}, [BadStr(), "ok"], float("nan"), sys.maxsize * 10, object()]


@pytest.mark.parametrize("value", hostile_values(), ids=lambda v: type(v).__name__)
def test_hostile_results_never_raise_into_the_caller(memory_config, memory_sink, value: Any) -> None:
    cfg = memory_config.model_copy(update={"capture_content": True})
    llamonitor.initialize_monitoring_sync(cfg)

    @monitor_llm("hostile", measure_text=True, measure_images=True, collectors=["cost"],
                 custom_attributes={"model": "gpt-4o", "weird": value}, measurement="hybrid")
    def call(arg: Any) -> Any:
        return arg

    assert call(value) is value
    got = events_by_name(memory_sink)
    assert len(got["hostile"]) == 1  # the event survives whatever the collectors met


def test_a_failing_custom_collector_never_reaches_the_caller(memory_config, memory_sink) -> None:
    from llamonitor import CollectorRegistry, MetricCollector

    class Exploding(MetricCollector):
        def collect(self, result: Any, args: Any, kwargs: Any, context: dict[str, Any]) -> dict[str, Any]:
            raise ZeroDivisionError("collector bug")

        @property
        def metric_type(self) -> str:
            return "exploding"

    CollectorRegistry.register("exploding", Exploding)
    try:
        llamonitor.initialize_monitoring_sync(memory_config)

        @monitor_llm(collectors=["exploding"])
        def call() -> int:
            return 7

        assert call() == 7 and call() == 7
        got = events_by_name(memory_sink)
        assert len(got["call"]) == 2
        assert llamonitor.health()["collector_errors"] == {"exploding": 2}
    finally:
        CollectorRegistry.unregister("exploding")


def test_unknown_collector_and_bad_measurement_are_refused_at_decoration() -> None:
    with pytest.raises(ValueError, match=r"unknown collector 'nope'.*cost"):
        monitor_llm(collectors=["nope"])
    with pytest.raises(ValueError, match="mode"):
        monitor_llm(measurement="tokens")


def test_content_capture_is_off_by_default_and_redacted_when_on(memory_config, memory_sink) -> None:
    @monitor_llm("talk")
    def talk(prompt: str) -> str:
        return "reply to " + prompt

    llamonitor.initialize_monitoring_sync(memory_config)
    talk("my email is a@b.c")
    assert llamonitor.shutdown_sync(10)
    assert memory_sink.events[0].input_content is None and memory_sink.events[0].output_content is None

    def redact(text: str) -> str:
        return text.replace("a@b.c", "[EMAIL]")

    llamonitor.initialize_monitoring_sync(memory_config.model_copy(update={"capture_content": True,
                                                                           "content_redactor": redact}))
    talk("my email is a@b.c")
    got = events_by_name(memory_sink)
    last = got["talk"][-1]
    assert last.input_content == "my email is [EMAIL]"
    assert last.output_content == "reply to my email is [EMAIL]"


def test_decorated_call_from_many_threads_while_initialising(memory_config, memory_sink) -> None:
    @monitor_llm("racy")
    def call() -> int:
        return 1

    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            assert call() == 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            llamonitor.initialize_monitoring_sync(memory_config)
            time.sleep(0.05)
            llamonitor.shutdown_sync(10)
    finally:
        stop.set()
        for t in threads:
            t.join()
    ids = memory_sink.ids()
    assert len(ids) == len(set(ids)) > 0
