"""One trace with the application's OpenTelemetry spans (issue 18, item 2), with the real OTel SDK.

Joining: a llamonitor span started inside an OpenTelemetry span takes its trace and uses it as
parent (unless a llamonitor span is closer). Exposing: inside a llamonitor span, OpenTelemetry
sees it as the current span, so spans the app (or an instrumentation) starts there are its
children. Both ways, sync, async, generators, threads, the adapter ``Span`` API and the OTLP
exporter sending into the same receiver as the SDK's own ``OTLPSpanExporter``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import (
    OTLPConfig,
    SamplingConfig,
    monitor_llm,
    monitoring_session,
    monitoring_trace,
    wrap_with_context,
)
from llamonitor.schema.events import MetricEvent
from llamonitor.testing import InMemoryBackend
from llamonitor.tracing import start_span
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from testkits.exporters import Receiver, wait_for


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    # llamonitor-autogen's conftest sets OTEL_SDK_DISABLED=true for the whole process.
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # default sampler: ParentBased(ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("app"), exporter
    provider.shutdown()


def start(make_config: Callable[..., Any], tmp_path: Path, mode: str = "always", **overrides: Any) -> None:
    # "always": the test's TracerProvider is not the global one (set once per process); the
    # "auto" mode is tested in a subprocess below.
    llamonitor.initialize_monitoring_sync(make_config(tmp_path, storage={"backend": "memory"}, otel_context=mode,
                                                      **overrides))


def events(sink: InMemoryBackend, n: int) -> dict[str, MetricEvent]:
    assert llamonitor.flush_sync(10)
    assert len(sink.events) == n, [e.operation_name for e in sink.events]
    return {e.operation_name: e for e in sink.events}


def hex_trace(span: Any) -> str:
    return trace.format_trace_id(span.get_span_context().trace_id)


def hex_span(span: Any) -> str:
    return trace.format_span_id(span.get_span_context().span_id)


def finished(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def parent_hex(span: ReadableSpan) -> str | None:
    return trace.format_span_id(span.parent.span_id) if span.parent is not None else None


# -- joining -------------------------------------------------------------------------------------


def test_decorated_calls_join_the_app_span_sync_async_and_streams(make_config, tmp_path: Path, memory_sink, otel):
    tracer, _ = otel

    @monitor_llm("sync_call")
    def sync_call() -> int:
        return 1

    @monitor_llm("async_call")
    async def async_call() -> int:
        return 2

    @monitor_llm("gen_call")
    def gen_call() -> Iterator[int]:
        yield 1
        yield 2

    @monitor_llm("agen_call")
    async def agen_call() -> Any:
        yield 1

    async def run_async() -> None:
        assert await async_call() == 2
        assert [x async for x in agen_call()] == [1]

    start(make_config, tmp_path)
    with tracer.start_as_current_span("request") as app:
        assert sync_call() == 1
        assert list(gen_call()) == [1, 2]
        asyncio.run(run_async())  # the task copies the context: the app span travels with it
    got = events(memory_sink, 4)
    for name in ("sync_call", "async_call", "gen_call", "agen_call"):
        assert got[name].trace_id == hex_trace(app), name
        assert got[name].parent_span_id == hex_span(app), name


def test_a_llamonitor_parent_stays_closer_than_the_app_span_around_it(make_config, tmp_path: Path, memory_sink,
                                                                     otel):
    tracer, _ = otel

    @monitor_llm("outer")
    def outer() -> None:
        inner()

    @monitor_llm("inner")
    def inner() -> None:
        pass

    start(make_config, tmp_path)
    with tracer.start_as_current_span("request") as app:
        outer()
    got = events(memory_sink, 2)
    assert got["outer"].parent_span_id == hex_span(app)
    assert got["inner"].parent_span_id == got["outer"].span_id
    assert got["inner"].trace_id == got["outer"].trace_id == hex_trace(app)


def test_without_an_app_span_a_root_gets_a_new_random_trace(make_config, tmp_path: Path, memory_sink, otel):
    @monitor_llm("alone")
    def alone() -> None:
        pass

    start(make_config, tmp_path)
    alone()
    alone()
    assert llamonitor.flush_sync(10)
    got = memory_sink.events
    assert len({e.trace_id for e in got}) == 2
    assert all(e.parent_span_id is None and len(e.trace_id) == 32 for e in got)


# -- exposing ------------------------------------------------------------------------------------


def test_app_spans_inside_a_llamonitor_span_are_its_children_and_one_trace(make_config, tmp_path: Path,
                                                                         memory_sink, otel):
    tracer, exporter = otel

    @monitor_llm("agent")
    def agent() -> None:
        with tracer.start_as_current_span("http POST"):
            tool()  # inside the app's span, inside ours: the app's span is the closer parent

    @monitor_llm("tool")
    def tool() -> None:
        with tracer.start_as_current_span("db query"):
            pass

    start(make_config, tmp_path)
    with tracer.start_as_current_span("request") as app:
        agent()
    got = events(memory_sink, 2)
    spans = finished(exporter)
    trace_id = hex_trace(app)
    assert {hex_trace_of(s) for s in spans.values()} == {trace_id}
    assert {e.trace_id for e in got.values()} == {trace_id}
    # request -> agent (llamonitor) -> http POST (app) -> tool (llamonitor) -> db query (app)
    assert got["agent"].parent_span_id == hex_span(app)
    assert parent_hex(spans["http POST"]) == got["agent"].span_id
    assert got["tool"].parent_span_id == hex_span(spans["http POST"])
    assert parent_hex(spans["db query"]) == got["tool"].span_id
    # the exposed span is local and sampled: the SDK's ParentBased sampler recorded the children
    assert spans["http POST"].parent is not None and not spans["http POST"].parent.is_remote
    assert spans["http POST"].parent.trace_flags.sampled
    # and it is gone once the call returned
    assert trace.get_current_span() is trace.INVALID_SPAN


def hex_trace_of(span: ReadableSpan) -> str:
    return trace.format_trace_id(span.context.trace_id)


def test_exposed_in_async_code_and_streams_only_while_the_body_runs(make_config, tmp_path: Path, memory_sink,
                                                                   otel):
    tracer, exporter = otel
    seen_between: list[Any] = []

    @monitor_llm("stream")
    async def stream() -> Any:
        for i in range(2):
            with tracer.start_as_current_span(f"chunk {i}"):
                await asyncio.sleep(0)
            yield i

    @monitor_llm("call")
    async def call() -> None:
        await asyncio.sleep(0)
        with tracer.start_as_current_span("inside call"):
            pass

    async def main() -> None:
        await asyncio.gather(call(), call())
        async for _ in stream():
            # the consumer between chunks is not inside the stream's span
            seen_between.append(trace.get_current_span())

    start(make_config, tmp_path)
    asyncio.run(main())
    assert llamonitor.flush_sync(10)
    by_id = {e.span_id: e for e in memory_sink.events}
    spans = exporter.get_finished_spans()
    assert len(spans) == 4 and len(by_id) == 3
    for s in spans:
        owner = by_id[parent_hex(s)]  # every app span's parent is a llamonitor span
        assert hex_trace_of(s) == owner.trace_id
        assert owner.operation_name == ("stream" if s.name.startswith("chunk") else "call")
    calls = [e for e in by_id.values() if e.operation_name == "call"]
    assert calls[0].trace_id != calls[1].trace_id  # two concurrent roots: two traces
    assert all(span is trace.INVALID_SPAN for span in seen_between)


def test_threads_carry_the_trace_with_wrap_with_context_or_otel_propagation(make_config, tmp_path: Path,
                                                                           memory_sink, otel):
    tracer, exporter = otel

    @monitor_llm("worker")
    def worker() -> None:
        with tracer.start_as_current_span("worker io"):
            pass

    @monitor_llm("parent")
    def parent() -> None:
        with ThreadPoolExecutor(2) as pool:
            pool.submit(wrap_with_context(worker)).result()  # both contexts copied
            captured = otel_context.get_current()  # only the OpenTelemetry context

            def otel_only() -> None:
                token = otel_context.attach(captured)
                try:
                    worker()
                finally:
                    otel_context.detach(token)

            pool.submit(otel_only).result()
            pool.submit(worker).result()  # nothing carried: a trace of its own

    start(make_config, tmp_path)
    parent()
    assert llamonitor.flush_sync(10)
    got = memory_sink.events
    root = next(e for e in got if e.operation_name == "parent")
    workers = sorted((e for e in got if e.operation_name == "worker"), key=lambda e: e.start_time_ns)
    assert len(workers) == 3
    for w in workers[:2]:
        assert w.trace_id == root.trace_id and w.parent_span_id == root.span_id
    assert workers[2].trace_id != root.trace_id and workers[2].parent_span_id is None
    io = {parent_hex(s): s for s in exporter.get_finished_spans()}
    assert set(io) == {w.span_id for w in workers}
    for w in workers:
        assert hex_trace_of(io[w.span_id]) == w.trace_id


def test_many_threads_each_join_their_own_app_span(make_config, tmp_path: Path, memory_sink, otel):
    tracer, exporter = otel
    errors: list[BaseException] = []

    @monitor_llm("step")
    def step(i: int) -> None:
        with tracer.start_as_current_span(f"io {i}"):
            pass

    def request(i: int) -> None:
        try:
            with tracer.start_as_current_span(f"request {i}"):
                for _ in range(20):
                    step(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    start(make_config, tmp_path)
    threads = [threading.Thread(target=request, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert llamonitor.flush_sync(10)
    spans = exporter.get_finished_spans()
    requests = {s.name.split()[1]: s for s in spans if s.name.startswith("request")}
    llama = {e.span_id: e for e in memory_sink.events}
    assert len(llama) == 160
    for e in llama.values():
        # each step joined the request of its own thread
        owners = [r for r in requests.values() if hex_span(r) == e.parent_span_id]
        assert len(owners) == 1 and e.trace_id == hex_trace_of(owners[0])
    for s in spans:
        if s.name.startswith("io"):
            owner = llama[parent_hex(s)]
            assert owner.parent_span_id == hex_span(requests[s.name.split()[1]])


# -- context managers and the adapter Span API ---------------------------------------------------


def test_context_managers(make_config, tmp_path: Path, memory_sink, otel):
    tracer, _ = otel

    @monitor_llm("op")
    def op() -> None:
        pass

    @monitor_llm("outer")
    def outer() -> None:
        with monitoring_session("nested-session"):
            op()  # a new session inside a llamonitor span: a new trace, as without OpenTelemetry

    start(make_config, tmp_path)
    with tracer.start_as_current_span("request") as app:
        with monitoring_session("user-1"):
            op()  # a web request's span joins across a session scope
        with monitoring_trace("named-trace") as named:
            op()  # an explicit trace id wins
        with monitoring_trace() as joined:
            op()  # no id: the app's trace
        outer()
    assert named == "named-trace" and joined == hex_trace(app)
    assert llamonitor.flush_sync(10)
    ops = sorted((e for e in memory_sink.events if e.operation_name == "op"), key=lambda e: e.start_time_ns)
    first, in_named, in_joined, in_outer = ops
    assert first.session_id == "user-1" and first.trace_id == hex_trace(app)
    assert first.parent_span_id == hex_span(app)
    assert in_named.trace_id == "named-trace" and in_named.parent_span_id is None
    assert in_joined.trace_id == hex_trace(app) and in_joined.parent_span_id == hex_span(app)
    out = next(e for e in memory_sink.events if e.operation_name == "outer")
    assert in_outer.session_id == "nested-session" and in_outer.trace_id not in (out.trace_id, hex_trace(app))


def test_adapter_span_api_joins_and_exposes(make_config, tmp_path: Path, memory_sink, otel):
    tracer, exporter = otel

    @monitor_llm("decorated")
    def decorated() -> None:
        pass

    start(make_config, tmp_path)
    with tracer.start_as_current_span("request") as app:
        span = start_span("chat gpt-4o", operation_type="chat", model="gpt-4o")
        with span.activate():
            with tracer.start_as_current_span("httpx POST"):
                pass
            decorated()
        span.end()
        # a framework's own (string) span id cannot be an OpenTelemetry id: not exposed, but a
        # llamonitor span inside still takes it as parent rather than the app's span around it
        run = start_span("chain", operation_type="workflow", span_id="run-7f3a")
        with run.activate():
            assert trace.get_current_span() is app
            decorated()
        run.end()
    assert llamonitor.flush_sync(10)
    got = sorted(memory_sink.events, key=lambda e: e.start_time_ns)
    chat, first, chain, second = sorted(got, key=lambda e: (e.start_time_ns, e.operation_name != "chat gpt-4o"))
    assert chat.operation_name == "chat gpt-4o"
    assert chat.trace_id == hex_trace(app) and chat.parent_span_id == hex_span(app)
    assert first.parent_span_id == chat.span_id
    http = finished(exporter)["httpx POST"]
    assert parent_hex(http) == chat.span_id and hex_trace_of(http) == chat.trace_id
    assert chain.span_id == "run-7f3a" and chain.parent_span_id == hex_span(app)
    assert second.parent_span_id == "run-7f3a" and second.trace_id == hex_trace(app)


def test_explicit_ids_given_by_an_adapter_are_not_replaced(make_config, tmp_path: Path, memory_sink, otel):
    tracer, _ = otel
    start(make_config, tmp_path)
    with tracer.start_as_current_span("request"):
        start_span("step", trace_id="a" * 32, parent_span_id="b" * 16).end()
    got = events(memory_sink, 1)["step"]
    assert got.trace_id == "a" * 32 and got.parent_span_id == "b" * 16


# -- switches ------------------------------------------------------------------------------------


def test_off_neither_joins_nor_exposes(make_config, tmp_path: Path, memory_sink, otel):
    tracer, exporter = otel

    @monitor_llm("op")
    def op() -> None:
        with tracer.start_as_current_span("inner"):
            pass

    start(make_config, tmp_path, mode="off")
    with tracer.start_as_current_span("request") as app:
        op()
    got = events(memory_sink, 1)["op"]
    assert got.trace_id != hex_trace(app) and got.parent_span_id is None
    assert parent_hex(finished(exporter)["inner"]) == hex_span(app)


@pytest.mark.parametrize("global_provider", ["sdk", "noop"])
def test_auto_bridges_once_a_tracer_provider_is_set(global_provider: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # set_tracer_provider works once per process: a fresh interpreter.
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    script = f"""
import json, llamonitor
from llamonitor import MonitorConfig, StorageConfig, monitor_llm
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

@monitor_llm("op")
def op():
    return trace.get_current_span()

llamonitor.initialize_monitoring_sync(MonitorConfig(
    storage=StorageConfig(output_dir={str(tmp_path / 'data')!r}, flush_interval_seconds=0.05),
    spill_dir={str(tmp_path / 'spill')!r}))
provider = TracerProvider()
tracer = provider.get_tracer("app")
with tracer.start_as_current_span("before") as before:
    inner_before = op()
trace.set_tracer_provider(provider if {global_provider!r} == "sdk" else trace.NoOpTracerProvider())
with tracer.start_as_current_span("after") as after:
    inner_after = op()
print(json.dumps({{"before_exposed": inner_before is not before, "after_exposed": inner_after is not after,
                  "after_trace": inner_after.get_span_context().trace_id == after.get_span_context().trace_id}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # before any provider was set: nothing bridged (the app's span is still current inside)
    assert result["before_exposed"] is False
    if global_provider == "sdk":
        # after: our span is the current one inside, in the app's trace
        assert result["after_exposed"] is True and result["after_trace"] is True
    else:
        # a NoOpTracerProvider set on purpose (tracing off) is no reason to bridge
        assert result["after_exposed"] is False


def test_user_exceptions_pass_unchanged_and_the_context_is_restored(make_config, tmp_path: Path, memory_sink,
                                                                    otel):
    tracer, _ = otel
    error = ValueError("the user's own")

    @monitor_llm("fails")
    async def fails() -> None:
        raise error

    @monitor_llm("fails_sync")
    def fails_sync() -> None:
        raise error

    start(make_config, tmp_path)
    with tracer.start_as_current_span("request") as app:
        with pytest.raises(ValueError) as caught:
            asyncio.run(fails())
        assert caught.value is error
        with pytest.raises(ValueError) as caught:
            fails_sync()
        assert caught.value is error
        assert trace.get_current_span() is app
    got = events(memory_sink, 2)
    assert all(e.error and e.parent_span_id == hex_span(app) for e in got.values())


def test_a_failing_bridge_logs_once_and_the_call_goes_on(make_config, tmp_path: Path, memory_sink, otel,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    from llamonitor import otel_context as bridge

    tracer, _ = otel

    def broken(*_args: Any) -> Any:
        raise RuntimeError("an incompatible OpenTelemetry")

    @monitor_llm("op")
    def op(x: int) -> int:
        return x * 2

    start(make_config, tmp_path)
    monkeypatch.setattr(bridge.BRIDGE, "get_current_span", broken)
    monkeypatch.setattr(bridge.BRIDGE, "attach", broken)
    monkeypatch.setattr(bridge.BRIDGE, "warned", False)
    with tracer.start_as_current_span("request"):
        assert [op(i) for i in range(3)] == [0, 2, 4]
        span = start_span("adapter")
        with span.activate():
            pass
        span.end()
    assert llamonitor.flush_sync(10)
    assert len(memory_sink.events) == 4  # recorded, unjoined
    assert all(e.parent_span_id is None for e in memory_sink.events)
    warnings = [r for r in caplog.records if "OpenTelemetry" in r.getMessage()]
    assert len(warnings) == 1


# -- sampling and the exposed span's flag --------------------------------------------------------


def test_sampled_out_trace_is_not_sampled_for_the_app_either(make_config, tmp_path: Path, memory_sink, otel):
    tracer, exporter = otel

    @monitor_llm("op")
    def op() -> None:
        with tracer.start_as_current_span("inner"):
            pass

    start(make_config, tmp_path, sampling=SamplingConfig(ratio=0.0, always_keep_errors=False))
    op()
    assert llamonitor.flush_sync(10)
    assert memory_sink.events == []
    assert llamonitor.health()["sampled_out"] == 1
    # ParentBased: the app's span inside a sampled-out llamonitor span is dropped with it
    assert exporter.get_finished_spans() == ()


def test_the_same_ratio_in_the_sdk_and_in_llamonitor_keeps_the_same_traces(make_config, tmp_path: Path,
                                                                            memory_sink,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.5)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")

    @monitor_llm("op")
    def op() -> None:
        with tracer.start_as_current_span("inner"):
            pass

    start(make_config, tmp_path, sampling=SamplingConfig(ratio=0.5, always_keep_errors=False))
    requests = 400
    for _ in range(requests):
        with tracer.start_as_current_span("request"):
            op()
    assert llamonitor.flush_sync(10)
    provider.shutdown()
    spans = exporter.get_finished_spans()
    app_traces = {hex_trace_of(s) for s in spans if s.name == "request"}
    inner_traces = {hex_trace_of(s) for s in spans if s.name == "inner"}
    ours = {e.trace_id for e in memory_sink.events}
    # every trace kept by one is kept by the other, whole (the app's inner span too)
    assert ours == app_traces == inner_traces
    assert 200 - 6 * 10 <= len(ours) <= 200 + 6 * 10  # Binomial(400, 0.5): sd 10
    assert llamonitor.health()["sampled_out"] == requests - len(ours)


# -- one trace through the OTLP exporter and the SDK's OTLPSpanExporter ---------------------------


def decode_all(receiver: Receiver) -> list[Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = []
    for _path, headers, body in list(receiver.requests):
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
            for ss in rs.scope_spans:
                spans.extend((ss.scope.name, s) for s in ss.spans)
    return spans


def test_llamonitor_and_app_spans_form_one_trace_at_an_otlp_receiver(make_config, tmp_path: Path, memory_sink,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    receiver = Receiver()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.url + "/v1/traces")))
    tracer = provider.get_tracer("app")
    try:
        @monitor_llm("plan", operation_type="invoke_agent")
        async def plan() -> None:
            with tracer.start_as_current_span("POST /search"):
                await search()

        @monitor_llm("search", operation_type="execute_tool")
        async def search() -> None:
            with tracer.start_as_current_span("SELECT docs"):
                pass

        cfg = make_config(tmp_path, storage={"backend": "memory"}, otel_context="always")
        cfg.extensions["otlp"] = OTLPConfig(endpoint=receiver.url + "/v1/traces").model_dump()
        llamonitor.initialize_monitoring_sync(cfg)

        async def main() -> None:
            with tracer.start_as_current_span("GET /ask"):
                await plan()

        asyncio.run(main())
        assert llamonitor.flush_sync(10)
        wait_for(lambda: len(decode_all(receiver)) == 5)
        spans = decode_all(receiver)
    finally:
        provider.shutdown()
        receiver.stop()
    assert sorted(scope for scope, _ in spans) == ["app", "app", "app", "llamonitor", "llamonitor"]
    assert len({s.trace_id for _, s in spans}) == 1  # ONE trace
    ids = {s.span_id: s for _, s in spans}
    roots = [s for _, s in spans if not s.parent_span_id]
    assert [r.name for r in roots] == ["GET /ask"]
    for _, s in spans:  # every parent is in the trace
        assert not s.parent_span_id or s.parent_span_id in ids

    def parent_name(name: str) -> str:
        span = next(s for _, s in spans if s.name == name)
        return ids[span.parent_span_id].name

    assert parent_name("invoke_agent plan") == "GET /ask"
    assert parent_name("POST /search") == "invoke_agent plan"
    assert parent_name("execute_tool search") == "POST /search"
    assert parent_name("SELECT docs") == "execute_tool search"
