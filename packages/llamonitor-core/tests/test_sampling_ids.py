"""W3C-random ids and head sampling by trace id (issue 18, item 2).

Bounds are six standard deviations wide: a correct implementation fails them about once in a
billion runs, while the counter-based ids this replaces (96 random bits above a 32-bit counter)
fail them every time -- a process's traces then share their low 64 bits' fate.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import uuid
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import MonitorConfig, SamplingConfig, ids, monitor_llm
from llamonitor.exporters.otlp import otel_id
from llamonitor.tracing import start_span
from llamonitor.transport.sampling import TraceSampler, bound_for
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

SIGMAS = 6


def binomial_bounds(n: int, p: float) -> tuple[float, float]:
    sd = math.sqrt(n * p * (1 - p))
    return n * p - SIGMAS * sd, n * p + SIGMAS * sd


def otel_keeps(sampler: TraceIdRatioBased, trace_id: int) -> bool:
    return sampler.should_sample(None, trace_id, "span").decision.is_sampled()


# -- ids -----------------------------------------------------------------------------------------


def test_every_bit_of_trace_and_span_ids_is_random() -> None:
    n = 20_000
    low, high = binomial_bounds(n, 0.5)
    for draw, width in ((ids.next_trace, 128), (ids.next_span, 64)):
        values = [draw() for _ in range(n)]
        assert len(set(values)) == n
        for bit in range(width):
            ones = sum((v >> bit) & 1 for v in values)
            assert low <= ones <= high, (width, bit, ones)


def test_the_applications_random_seed_does_not_repeat_our_ids() -> None:
    random.seed(1234)
    first = ids.next_trace(), ids.next_span()
    random.seed(1234)
    assert (ids.next_trace(), ids.next_span()) != first


def test_event_ids_are_uuid_shaped_and_distinct_within_and_across_traces() -> None:
    trace = ids.next_trace()
    spans = [ids.next_span() for _ in range(5000)]
    traces = [trace] * 2500 + [ids.next_trace() for _ in range(2500)]
    span_ids, event_ids, trace_ids = ids.batch_ids(spans, traces)
    assert len(set(event_ids)) == 5000
    assert all(str(uuid.UUID(e)) == e for e in event_ids)
    assert span_ids[0] == ids.span_hex(spans[0]) and trace_ids[0] == ids.trace_hex(trace)
    # the per-id function and the batch formatting agree, also for string traces
    mixed_traces: list[Any] = ["conversation-1", None, trace]
    _, mixed, _ = ids.batch_ids(spans[:3], mixed_traces)
    assert mixed == [ids.event_uuid(s, t) for s, t in zip(spans[:3], mixed_traces, strict=True)]
    assert event_ids[:3] == [ids.event_uuid(s, t) for s, t in zip(spans[:3], traces[:3], strict=True)]


def _child_trace_ids(queue: Any, n: int) -> None:
    queue.put([ids.next_trace() for _ in range(n)])


def test_traces_of_20_forked_processes_sample_like_opentelemetry() -> None:
    """10,000 traces over 20 real (forked) processes at ratio 0.1: ~1,000 kept, each process ~10 %."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    ids.next_trace()  # the parent's generator has state the children must not repeat
    per_process: list[list[int]] = []
    for _ in range(4):  # five at a time: the machine is shared
        procs = [ctx.Process(target=_child_trace_ids, args=(queue, 500)) for _ in range(5)]
        for p in procs:
            p.start()
        per_process.extend(queue.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
    all_ids = [t for chunk in per_process for t in chunk]
    assert len(all_ids) == 10_000 and len(set(all_ids)) == 10_000  # a child never repeats another
    ours = TraceSampler(0.1)
    theirs = TraceIdRatioBased(0.1)
    kept_per_process = []
    for chunk in per_process:
        decisions = [ours.keeps_trace(t) for t in chunk]
        assert decisions == [otel_keeps(theirs, t) for t in chunk]  # the same decision as the SDK
        kept_per_process.append(sum(decisions))
    low, high = binomial_bounds(10_000, 0.1)
    assert low <= sum(kept_per_process) <= high, sum(kept_per_process)
    p_low, p_high = binomial_bounds(500, 0.1)
    assert all(p_low <= k <= p_high for k in kept_per_process), kept_per_process


# -- the sampler ---------------------------------------------------------------------------------


def test_bound_and_string_trace_ids_follow_the_exporters_ids() -> None:
    assert bound_for(0.1) == TraceIdRatioBased(0.1).bound
    sampler = TraceSampler(0.5)
    otel = TraceIdRatioBased(0.5)
    for text in ("conversation-1", "conversation-2", "run-7f3a", "a" * 32, "0" * 32):
        exported = int.from_bytes(otel_id(text, 16)[0], "big")  # what the OTLP exporter sends
        assert sampler.keeps_trace(text) == otel_keeps(otel, exported), text
    assert TraceSampler(0.0).keeps_trace((1 << 64) + 0) is False
    assert TraceSampler(1.0).keeps_trace((1 << 128) - 1) is True
    with pytest.raises(ValueError, match="between 0 and 1"):
        TraceSampler(1.5)


def start(make_config: Any, tmp_path: Path, **sampling: Any) -> None:
    llamonitor.initialize_monitoring_sync(make_config(tmp_path, storage={"backend": "memory"},
                                                      sampling=SamplingConfig(**sampling)))


def test_head_sampling_keeps_whole_traces_before_the_queue(make_config: Any, tmp_path: Path, memory_sink: Any) -> None:
    @monitor_llm("root")
    def root() -> None:
        child()
        span = start_span("adapter span")  # the Span API samples too
        span.end()

    @monitor_llm("child")
    def child() -> None:
        pass

    start(make_config, tmp_path, ratio=0.1)
    calls = 3000
    for _ in range(calls):
        root()
    assert llamonitor.flush_sync(30)
    traces: dict[str, list[str]] = {}
    for e in memory_sink.events:
        traces.setdefault(e.trace_id, []).append(e.operation_name)
    assert all(sorted(names) == ["adapter span", "child", "root"] for names in traces.values())  # whole
    low, high = binomial_bounds(calls, 0.1)
    assert low <= len(traces) <= high, len(traces)
    otel = TraceIdRatioBased(0.1)
    assert all(otel_keeps(otel, int(t, 16)) for t in traces)
    health = llamonitor.health()
    assert health["sampled_out"] == 3 * (calls - len(traces))
    assert health["processed"] == 3 * len(traces)


def test_errors_are_kept_with_the_callers_around_them(make_config: Any, tmp_path: Path, memory_sink: Any) -> None:
    @monitor_llm("root")
    def root() -> None:
        ok()
        try:
            fail()
        except RuntimeError:
            pass

    @monitor_llm("ok")
    def ok() -> None:
        pass

    @monitor_llm("fail")
    def fail() -> None:
        raise RuntimeError("boom")

    start(make_config, tmp_path, ratio=0.0)
    root()
    assert llamonitor.flush_sync(10)
    # "ok" ended before the failure: dropped; the failure and its caller are kept
    assert sorted(e.operation_name for e in memory_sink.events) == ["fail", "root"]
    assert llamonitor.health()["sampled_out"] == 1
    llamonitor.shutdown_sync(10)
    memory_sink.events.clear()
    start(make_config, tmp_path, ratio=0.0, always_keep_errors=False)
    root()
    assert llamonitor.flush_sync(10)
    assert memory_sink.events == []
    assert llamonitor.health()["sampled_out"] == 3


def test_ratio_one_adds_nothing_to_the_hot_path(make_config: Any, tmp_path: Path, memory_sink: Any) -> None:
    start(make_config, tmp_path)
    writer = llamonitor.get_writer()
    assert writer is not None and writer.recorder.sampler is None
    assert llamonitor.health()["sampled_out"] == 0


def test_config_fields_and_environment() -> None:
    assert MonitorConfig().sampling == SamplingConfig(ratio=1.0, always_keep_errors=True)
    assert MonitorConfig().otel_context == "auto"
    with pytest.raises(ValueError, match="less than or equal to 1"):
        SamplingConfig(ratio=1.5)
    with pytest.raises(ValueError, match="otel_context"):
        MonitorConfig(otel_context="sometimes")
    cfg = MonitorConfig.from_env({"LLMOPS_SAMPLING_RATIO": "0.25", "LLMOPS_OTEL_CONTEXT": "off"})
    assert cfg.sampling.ratio == 0.25 and cfg.otel_context == "off"
    with pytest.raises(ValueError, match="LLMOPS_SAMPLING_RATIO must be a number"):
        MonitorConfig.from_env({"LLMOPS_SAMPLING_RATIO": "most"})
