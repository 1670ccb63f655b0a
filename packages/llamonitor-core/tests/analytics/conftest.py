"""Constructed traces with known truth, and the seed README block reader for the analytics tests."""

from __future__ import annotations

import ast
import asyncio
import inspect
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from llamonitor.schema.events import AgentIdentity, MetricEvent
from testkits.seed import seed_block

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
_ids = itertools.count(1)


class Trace:
    """Builds the spans of one trace; times in ms from the trace start."""

    def __init__(self, trace_id: str = "t1", session_id: str = "s1", offset_ms: float = 0.0) -> None:
        self.trace_id = trace_id
        self.session_id = session_id
        self.offset_ms = offset_ms
        self.events: list[MetricEvent] = []

    def span(self, agent: str | None, op: str, start_ms: float, dur_ms: float, *, parent: str | None = None,
             error: bool = False, input: str | None = None, output: str | None = None, role: str | None = None,
             handoff_from: str | None = None, framework: str | None = None, tokens: int | None = None) -> str:
        n = next(_ids)
        span_id = f"{n:016x}"
        start = T0 + int((self.offset_ms + start_ms) * 1e6)
        ident = None if agent is None else AgentIdentity(framework=framework, agent_name=agent, agent_role=role,
                                                          handoff_from=handoff_from)
        from llamonitor.schema.events import TokenUsage

        self.events.append(MetricEvent(
            event_id=f"e{n}", session_id=self.session_id, trace_id=self.trace_id, span_id=span_id,
            operation_name=op, start_time_ns=start, end_time_ns=start + int(dur_ms * 1e6), duration_ms=dur_ms,
            parent_span_id=parent, error=error, error_type="RuntimeError" if error else None, agent=ident,
            input_content=input, output_content=output,
            usage=TokenUsage(total_tokens=tokens) if tokens is not None else None))
        return span_id


def chain(trace_id: str, session_id: str, offset_ms: float, steps: list[tuple[str, float]],
          gap_ms: float = 0.0) -> list[MetricEvent]:
    """Flat sequential trace: each (agent, duration) runs after the previous one."""
    tr = Trace(trace_id, session_id, offset_ms)
    t = 0.0
    for agent, dur in steps:
        tr.span(agent, f"{agent}_step", t, dur)
        t += dur + gap_ms
    return tr.events


def run_snippet(src: str, g: dict[str, Any]) -> None:
    """Run ``src`` verbatim in namespace ``g``, top-level ``await`` allowed."""
    code = compile(src, "<seed-readme>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, g)
    if inspect.iscoroutine(result):
        asyncio.run(result)


@pytest.fixture
def trace() -> type[Trace]:
    return Trace


@pytest.fixture
def make_chain() -> Callable[..., list[MetricEvent]]:
    return chain


@pytest.fixture
def seed() -> Callable[..., str]:
    return seed_block


@pytest.fixture
def run() -> Callable[[str, dict[str, Any]], None]:
    return run_snippet
