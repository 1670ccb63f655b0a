"""Time and peak memory of the analytics on synthetic multi-agent traces (10 agents).

Run: ``uv run python bench/analytics.py`` (``--sizes 10000,100000``, ``--no-content`` to leave
captured prompts out, ``--json`` for machine-readable output).

Each trace is one workflow: an orchestrator span with nine agent spans below it, run one after
the other (so 10 events per trace, one per agent), with captured input / output text carrying a
name, an email and an order number (some agents drop them, so drift has work to do), and about
2 % errors. Every stage runs on the whole set: agent detection and operations, handoff scoring,
context drift, the coordination graph (all sessions), bottlenecks, coalitions, then anomaly
training and detection on the same events. Time is wall time without tracing (best of
``--repeats``) of the analyses only (generating the events is not timed); peak memory is measured
in a separate run under ``tracemalloc`` (Python allocations only) and excludes the input events.
The last lines compare time and peak memory per event between consecutive sizes (1.0 = linear).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from llamonitor.analytics.agents import (
    AgentDetector,
    BottleneckDetector,
    CoalitionAnalyzer,
    ContextDriftDetector,
    CoordinationGraphBuilder,
    HandoffAnalyzer,
)
from llamonitor.analytics.anomaly import AnomalyDetectionService
from llamonitor.schema.events import AgentIdentity, CostInfo, MetricEvent, TextMetrics, TokenUsage

AGENTS = ["orchestrator", "router", "classifier", "retriever", "reranker", "planner", "coder", "reviewer",
          "writer", "validator"]
NAMES = ["Maria Garcia", "James Miller", "Aisha Khan", "Chen Wei", "Lucas Martin", "Priya Patel"]
T0 = 1_767_225_600_000_000_000


def make_events(n: int, content: bool, seed: int = 1) -> list[MetricEvent]:
    """``n`` events in traces of 10 (one orchestrator + nine agents)."""
    rng = random.Random(seed)
    events: list[MetricEvent] = []
    traces = n // len(AGENTS)
    for t in range(traces):
        trace_id = f"{t:032x}"
        session = f"session-{t // 5}"
        name = NAMES[t % len(NAMES)]
        email = name.lower().replace(" ", ".") + "@example.com"
        order = 100_000 + t
        start = T0 + t * 2_000_000_000
        durations = [max(0.5, rng.gauss(40 if a == "coder" else 12, 3)) for a in AGENTS[1:]]
        total = sum(durations) + 2
        root_span = f"{t:08x}00000000"
        msg = f"Hi, this is {name} ({email}). Order #{order}: 3 items missing." if content else None
        events.append(_event(f"{t}-0", session, trace_id, root_span, None, "orchestrator", "handle_request",
                             start, total, False, msg, "done" if content else None))
        cursor = start + 1_000_000
        text = msg
        for i, (agent, dur) in enumerate(zip(AGENTS[1:], durations, strict=True), start=1):
            out = (f"{agent} notes for order #{order}" + (f", {name} <{email}>" if agent not in ("coder", "reviewer")
                                                           else "")) if content else None
            events.append(_event(f"{t}-{i}", session, trace_id, f"{t:08x}{i:08x}", root_span, agent,
                                 f"{agent}_step", cursor, dur, rng.random() < 0.02, text, out))
            text = out
            cursor += int(dur * 1e6)
    return events


def _event(eid: str, session: str, trace: str, span: str, parent: str | None, agent: str, op: str, start: int,
           dur: float, error: bool, inp: str | None, out: str | None) -> MetricEvent:
    return MetricEvent(
        event_id=eid, session_id=session, trace_id=trace, span_id=span, parent_span_id=parent, operation_name=op,
        start_time_ns=start, end_time_ns=start + int(dur * 1e6), duration_ms=dur, error=error,
        agent=AgentIdentity(agent_name=agent, framework="bench"), input_content=inp, output_content=out,
        usage=TokenUsage(total_tokens=int(dur * 20)), text_metrics=TextMetrics(char_count=int(dur * 80)),
        cost=CostInfo(total_cost_usd=dur * 1e-5))


def run_all(events: list[MetricEvent]) -> dict[str, float]:
    """Every analysis once; seconds per stage."""
    times: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        times[name] = time.perf_counter() - t0
        return result

    det = AgentDetector()
    agents = stage("agents", lambda: det.detect_agents_sync(events, auto_register=True))
    ops = stage("operations", lambda: det.detect_agent_operations_sync(events))
    hs = stage("handoffs", lambda: HandoffAnalyzer().analyze_handoffs_sync(ops, events))
    stage("drift", lambda: ContextDriftDetector().detect_drift_sync(ops, events))
    graph = stage("graph", lambda: CoordinationGraphBuilder().build_graph_sync(agents, ops, hs, None))
    stage("bottlenecks", lambda: BottleneckDetector().detect_bottlenecks_sync(agents, ops, hs, graph.nodes,
                                                                               graph.edges))
    stage("coalitions", lambda: CoalitionAnalyzer().discover_coalitions_sync(agents, ops, hs, None))
    svc = AnomalyDetectionService()
    stage("anomaly_train", lambda: svc.train_sync(events))
    stage("anomaly_detect", lambda: svc.detect_sync(events))
    times["total"] = sum(times.values())
    return times


def measure(n: int, content: bool, repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` stage times and the tracemalloc peak for ``n`` events."""
    events = make_events(n, content)
    best: dict[str, float] | None = None
    for _ in range(repeats):
        times = run_all(events)
        if best is None or times["total"] < best["total"]:
            best = times
    tracemalloc.start()
    run_all(events)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert best is not None
    return {"events": len(events), "content": content, "seconds": best, "peak_mib": peak / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="event counts (comma-separated)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-content", action="store_true", help="no captured content (drift has nothing to do)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = [measure(int(s), not args.no_content, args.repeats) for s in args.sizes.split(",")]
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "machine": platform.machine(), "results": results},
                         indent=2))
        return 0
    print(f"Python {sys.version.split()[0]} on {platform.machine()}; 10 agents, content={not args.no_content}")
    stages = list(results[0]["seconds"])
    print(f"{'events':>8} " + " ".join(f"{s[:12]:>12}" for s in stages) + f" {'us/event':>9} {'peak MiB':>9}")
    for r in results:
        per_event = r["seconds"]["total"] / r["events"] * 1e6
        print(f"{r['events']:>8} " + " ".join(f"{r['seconds'][s]:>12.3f}" for s in stages)
              + f" {per_event:>9.2f} {r['peak_mib']:>9.1f}")
    for a, b in itertools.pairwise(results):
        ratio = (b["seconds"]["total"] / b["events"]) / (a["seconds"]["total"] / a["events"])
        mem = (b["peak_mib"] / b["events"]) / (a["peak_mib"] / a["events"])
        print(f"per event, {b['events']:,} vs {a['events']:,}: time x{ratio:.2f}, peak memory x{mem:.2f} "
              f"(1.0 = linear)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
