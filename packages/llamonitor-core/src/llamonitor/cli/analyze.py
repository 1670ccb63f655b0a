"""``llamonitor analyze``: multi-agent findings and anomalies of a Parquet dataset.

Prints agents, handoffs, context drift, bottlenecks, coalitions and anomalies with rich, and
writes ``coordination_graph.svg``, ``analysis.html`` (the graph and every table) and
``analysis.json`` to ``--out``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llamonitor.schema.events import MetricEvent


def load_events(path: str | Path, session_id: str | None = None) -> list[MetricEvent]:
    """Events of the Parquet files under ``path`` (optionally one session).

    Kept in one function on purpose: the query layer will replace it.
    """
    import pyarrow.dataset as ds

    from llamonitor.query.summary import event_files
    from llamonitor.schema.arrow import EVENT_SCHEMA, table_to_events

    files = event_files(path)
    if not files:
        return []
    dataset = ds.dataset([str(f) for f in files], format="parquet", schema=EVENT_SCHEMA)
    table = dataset.to_table(filter=ds.field("session_id") == session_id) if session_id else dataset.to_table()
    return table_to_events(table)


def _ms(v: float) -> str:
    return f"{v:,.1f}"


def print_findings(report: Any, console: Console) -> None:
    """Print an :class:`~llamonitor.analytics.pipeline.AnalysisReport` as rich tables."""
    g = report.graph
    stats = report.handoff_stats
    t = Table(title="Agents", title_justify="left")
    for col in ("agent", "role", "identity", "invocations", "ops", "p50 ms", "p95 ms", "success", "tokens", "cost"):
        t.add_column(col, justify="right" if col in ("invocations", "ops", "p50 ms", "p95 ms", "tokens", "cost",
                                                     "success") else "left")
    for a in report.agents:
        t.add_row(escape(a.agent_name), escape(a.agent_role or ""), str(a.identity_source), str(a.invocations),
                  str(a.operations), _ms(a.p50_latency_ms), _ms(a.p95_latency_ms), f"{a.success_rate * 100:.1f}%",
                  f"{a.total_tokens:,}", f"${a.total_cost_usd:.6f}")
    console.print(t)

    t = Table(title=f"Handoffs: {stats['total_handoffs']}, average quality {stats['avg_quality_score']:.3f} "
                    f"({', '.join(f'{k} {v}' for k, v in stats['by_quality'].items() if v)})", title_justify="left")
    for col in ("from → to", "count", "avg quality", "level"):
        t.add_column(col, justify="left" if col in ("from → to", "level") else "right")
    from llamonitor.analytics.agents.models import HandoffQuality

    for pair, v in sorted(stats["by_pair"].items(), key=lambda kv: kv[1]["avg_quality_score"]):
        t.add_row(escape(pair.replace("->", "→")), str(v["count"]), f"{v['avg_quality_score']:.3f}",
                  str(HandoffQuality.from_score(v["avg_quality_score"])))
    console.print(t)

    if report.drift:
        high = [d for d in report.drift if d.has_high_drift]
        t = Table(title=f"Context drift: {len(report.drift)} handoffs checked, {len(high)} with high drift (> 40 %)",
                  title_justify="left")
        for col in ("from → to", "drift", "lost entities", "trace"):
            t.add_column(col)
        for d in sorted(report.drift, key=lambda d: -d.drift_score)[:15]:
            if d.drift_score == 0:
                break
            t.add_row(escape(f"{d.from_agent} → {d.to_agent}"), f"{d.drift_score:.2f}",
                      escape(", ".join(f"{e.value} ({e.entity_type})" for e in d.lost_entities)), escape(d.trace_id))
        console.print(t)
    else:
        console.print("[bold]Context drift[/]: no handoff has captured content on both sides; enable "
                      "MonitorConfig(capture_content=True) to check for lost information.", highlight=False)
    console.print()

    t = Table(title="Bottlenecks (score = 0.3 utilisation + 0.3 latency + 0.2 failures + 0.2 downstream)",
              title_justify="left")
    for col in ("agent", "score", "severity", "util", "latency", "fail", "downstream", "p95 ms", "recommendations"):
        t.add_column(col, justify="left" if col in ("agent", "severity", "recommendations") else "right")
    for b in report.bottlenecks:
        t.add_row(escape(b.agent_name), f"{b.bottleneck_score:.3f}", str(b.severity), f"{b.utilization:.2f}",
                  f"{b.latency_score:.2f}", f"{b.failure_rate:.2f}", f"{b.downstream_impact:.2f}",
                  _ms(b.p95_latency_ms), escape("\n".join(f"• {r}" for r in b.recommendations)))
    console.print(t)

    t = Table(title="Coalitions", title_justify="left")
    for col in ("team", "runs", "success", "avg latency ms", "handoff quality", "rating"):
        t.add_column(col, justify="left" if col in ("team", "rating") else "right")
    for c in report.coalitions:
        t.add_row(escape(c.coalition_name), str(c.runs), f"{c.success_rate * 100:.1f}%", _ms(c.avg_total_latency_ms),
                  f"{c.avg_handoff_quality:.3f}", report.coalition_ratings[c.coalition_id]["performance_rating"])
    console.print(t)

    shown = [a for a in report.anomalies if a.severity.rank >= 1]
    low = len(report.anomalies) - len(shown)
    t = Table(title=f"Anomalies (baselines from the same data): {len(shown)} MEDIUM or above, {low} LOW",
              title_justify="left")
    for col in ("operation", "metric", "severity", "score", "method", "value", "expected"):
        t.add_column(col, justify="left" if col in ("operation", "metric", "severity", "method") else "right")
    for a in shown[:20]:
        t.add_row(escape(a.operation_name), a.metric_name, str(a.severity), f"{a.anomaly_score:.3f}", a.method,
                  f"{a.value:g}", f"{a.expected:g}")
    console.print(t)
    path = " → ".join(g.critical_path) or "-"
    console.print(f"[bold]Coordination graph[/]: {len(g.nodes)} agents, {len(g.edges)} edges, max depth {g.max_depth}, "
                  f"critical path {g.critical_path_ms:.1f} ms ({escape(path)})", highlight=False)


def write_outputs(report: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write the SVG graph, the HTML page and the JSON findings of ``report`` to ``out_dir``."""
    from llamonitor.analytics.render import render_html, render_svg

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    svg = render_svg(report.graph, report.bottlenecks)
    paths = {"svg": out / "coordination_graph.svg", "html": out / "analysis.html", "json": out / "analysis.json"}
    paths["svg"].write_text(svg, encoding="utf-8")
    paths["html"].write_text(render_html(report, svg), encoding="utf-8")
    paths["json"].write_text(json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")
    return paths


def cmd_analyze(args: Any) -> int:
    """``llamonitor analyze``."""
    from llamonitor.analytics.pipeline import run_analysis
    from llamonitor.cli.report import report_console

    err = Console(stderr=True)
    events = load_events(args.dir, args.session)
    if not events:
        what = f"session {args.session!r} under " if args.session else ""
        err.print(f"[red]No events[/] for {escape(what)}{escape(repr(str(args.dir)))}. Run `llamonitor demo`, or pass "
                  f"--dir with the output_dir your application writes to.", highlight=False, soft_wrap=True)
        return 1
    report = run_analysis(events, args.session)
    console = report_console()
    print_findings(report, console)
    paths = write_outputs(report, args.out)
    console.print(f"Wrote {escape(str(paths['svg']))}, {escape(str(paths['html']))} and {escape(str(paths['json']))}",
                  highlight=False, soft_wrap=True)
    return 0
