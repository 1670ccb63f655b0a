"""Draw the coordination graph as SVG (own layout, no plotting library) and an HTML report page.

Layout: agents are placed in columns by their longest handoff distance from an entry agent
(left to right), edges are Bézier curves whose width grows with the handoff count and whose
colour follows the average quality (green EXCELLENT .. red FAILED); edges that skip columns or
go backwards arc above the nodes. Node colour follows the agent's bottleneck severity.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from llamonitor.analytics.agents.models import Bottleneck, CoordinationGraph, HandoffQuality

if TYPE_CHECKING:
    from llamonitor.analytics.pipeline import AnalysisReport

NODE_W, NODE_H = 200, 70
COL_GAP, ROW_GAP = 110, 40
MARGIN_X, MARGIN_TOP = 40, 110

QUALITY_COLOURS = {HandoffQuality.EXCELLENT: "#2e7d32", HandoffQuality.GOOD: "#7cb342",
                   HandoffQuality.ACCEPTABLE: "#f9a825", HandoffQuality.POOR: "#ef6c00",
                   HandoffQuality.FAILED: "#c62828"}
SEVERITY_FILLS = {"LOW": "#e8f5e9", "MEDIUM": "#fff8e1", "HIGH": "#ffe0b2", "CRITICAL": "#ffcdd2"}


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _layers(graph: CoordinationGraph) -> dict[str, int]:
    names = [n.id for n in graph.nodes]
    rank = dict.fromkeys(names, 0)
    edges = [(e.source, e.target) for e in graph.edges
             if e.source in rank and e.target in rank and e.source != e.target]
    # longest-path layering, bounded so cycles cannot loop forever
    for _ in range(len(names)):
        changed = False
        for s, t in edges:
            if rank[t] < rank[s] + 1 and rank[s] + 1 < len(names):
                rank[t] = rank[s] + 1
                changed = True
        if not changed:
            break
    return rank


def render_svg(graph: CoordinationGraph, bottlenecks: Sequence[Bottleneck] = (), title: str | None = None) -> str:
    """The coordination graph as a standalone SVG document."""
    rank = _layers(graph)
    columns: dict[int, list[str]] = defaultdict(list)
    for n in graph.nodes:
        columns[rank[n.id]].append(n.id)
    severity = {b.agent_name: b.severity.value for b in bottlenecks}
    score = {b.agent_name: b.bottleneck_score for b in bottlenecks}
    pos: dict[str, tuple[float, float]] = {}
    max_rows = max((len(c) for c in columns.values()), default=1)
    height_nodes = max_rows * NODE_H + (max_rows - 1) * ROW_GAP
    for col, members in columns.items():
        offset = (height_nodes - (len(members) * NODE_H + (len(members) - 1) * ROW_GAP)) / 2
        for i, name in enumerate(members):
            pos[name] = (MARGIN_X + col * (NODE_W + COL_GAP), MARGIN_TOP + offset + i * (NODE_H + ROW_GAP))
    n_cols = max(columns, default=0) + 1
    width = max(2 * MARGIN_X + n_cols * NODE_W + (n_cols - 1) * COL_GAP, 640)
    n_arcs = sum(1 for e in graph.edges if e.source in rank and e.target in rank
                 and e.source != e.target and rank[e.target] - rank[e.source] != 1)
    height = MARGIN_TOP + height_nodes + 90
    # room above for the arcs: the highest apex is 0.75 * its control point + 0.25 * the node top
    highest_apex = 0.75 * (MARGIN_TOP - _lift(n_arcs)) + 0.25 * MARGIN_TOP
    top_shift = max(0.0, 75 - highest_apex)
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height + top_shift:.0f}" '
        f'viewBox="0 {-top_shift:.0f} {width:.0f} {height + top_shift:.0f}" '
        'font-family="Helvetica, Arial, sans-serif">',
        "<defs>",
    ]
    for q, colour in QUALITY_COLOURS.items():
        out.append(f'<marker id="arrow-{q.value}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" '
                   f'markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
                   f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    out.append("</defs>")
    out.append(f'<rect x="0" y="{-top_shift:.0f}" width="{width:.0f}" height="{height + top_shift:.0f}" fill="white"/>')
    heading = title or f"Agent coordination graph{f' — session {graph.session_id}' if graph.session_id else ''}"
    out.append(f'<text x="{MARGIN_X}" y="{-top_shift + 30:.0f}" font-size="18" '
               f'font-weight="bold">{_esc(heading)}</text>')
    out.append(f'<text x="{MARGIN_X}" y="{-top_shift + 52:.0f}" font-size="12" '
               f'fill="#555">{_esc(_subtitle(graph))}</text>')
    max_count = max((e.count for e in graph.edges), default=1)
    arc_index = 0
    for e in graph.edges:
        if e.source not in pos or e.target not in pos:
            continue
        q = HandoffQuality.from_score(e.avg_quality_score)
        colour = QUALITY_COLOURS[q]
        sx, sy = pos[e.source]
        tx, ty = pos[e.target]
        stroke = 1.5 + 4.5 * e.count / max_count
        if e.source == e.target:
            x0, y0 = sx + NODE_W * 0.7, sy
            d = f"M{x0:.1f},{y0:.1f} C{x0 + 40:.1f},{y0 - 60:.1f} {x0 - 80:.1f},{y0 - 60:.1f} {x0 - 40:.1f},{y0:.1f}"
            lx, ly = x0 - 20, y0 - 48
        elif rank[e.target] - rank[e.source] == 1:
            x0, y0 = sx + NODE_W, sy + NODE_H / 2
            x1, y1 = tx, ty + NODE_H / 2
            mid = (x0 + x1) / 2
            d = f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
            lx, ly = mid, (y0 + y1) / 2 - 6
        else:
            arc_index += 1
            lift = _lift(arc_index)
            x0, y0 = sx + NODE_W / 2 + 12 * arc_index % 60, sy
            x1, y1 = tx + NODE_W / 2 - 12 * arc_index % 60, ty
            top = min(y0, y1) - lift
            d = f"M{x0:.1f},{y0:.1f} C{x0:.1f},{top:.1f} {x1:.1f},{top:.1f} {x1:.1f},{y1:.1f}"
            lx, ly = (x0 + x1) / 2, 0.75 * top + 0.25 * min(y0, y1) - 4  # the curve's apex
        tip = f"{e.source} → {e.target}: {e.count} handoffs ({', '.join(e.kinds)}), avg quality " \
              f"{e.avg_quality_score:.2f} {q.value}, avg gap {e.avg_gap_ms:.1f} ms, {e.failures} failed"
        out.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{stroke:.1f}" stroke-opacity="0.8" '
                   f'marker-end="url(#arrow-{q.value})"><title>{_esc(tip)}</title></path>')
        out.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="11" text-anchor="middle" fill="{colour}" '
                   f'stroke="white" stroke-width="3" paint-order="stroke">'
                   f'{e.count}× · q {e.avg_quality_score:.2f}</text>')
    for n in graph.nodes:
        x, y = pos[n.id]
        fill = SEVERITY_FILLS.get(severity.get(n.id, "LOW"), "#e8f5e9")
        on_path = n.id in graph.critical_path
        border = "#b71c1c" if on_path else "#455a64"
        tip = f"{n.id}: {n.invocations} invocations, avg {n.avg_latency_ms:.1f} ms, p95 {n.p95_latency_ms:.1f} ms, " \
              f"{n.success_rate * 100:.1f}% ok, identity {n.identity_source}"
        if n.id in score:
            tip += f", bottleneck {score[n.id]:.2f} {severity[n.id]}"
        out.append(f'<g><title>{_esc(tip)}</title>'
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="10" fill="{fill}" '
                   f'stroke="{border}" stroke-width="{2.5 if on_path else 1.2}"/>')
        out.append(f'<text x="{x + 12:.1f}" y="{y + 22:.1f}" font-size="14" font-weight="bold">{_esc(n.id)}</text>')
        role = n.agent_role or ""
        if n.identity_source != "recorded":
            role = f"{role} ({n.identity_source})".strip()
        out.append(f'<text x="{x + 12:.1f}" y="{y + 39:.1f}" font-size="11" fill="#555">{_esc(role[:32])}</text>')
        out.append(f'<text x="{x + 12:.1f}" y="{y + 57:.1f}" font-size="11">{n.invocations} inv · p95 '
                   f'{n.p95_latency_ms:.0f} ms · {n.success_rate * 100:.0f}% ok</text></g>')
    out.extend(_legend(MARGIN_X, height - 35))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _lift(k: int) -> float:
    """How far above the nodes the k-th arc's control points sit."""
    return 40.0 + 25.0 * k


def _subtitle(graph: CoordinationGraph) -> str:
    path = " → ".join(graph.critical_path) if graph.critical_path else "-"
    return (f"{len(graph.nodes)} agents, {sum(e.count for e in graph.edges)} handoffs, {graph.traces} traces · "
            f"max depth {graph.max_depth} · critical path {graph.critical_path_ms:.1f} ms: {path}")


def _legend(x: float, y: float) -> list[str]:
    parts = [f'<text x="{x}" y="{y}" font-size="11" fill="#555">handoff quality:</text>']
    cx = x + 95
    for q, colour in QUALITY_COLOURS.items():
        parts.append(f'<line x1="{cx}" y1="{y - 4}" x2="{cx + 22}" y2="{y - 4}" stroke="{colour}" stroke-width="4"/>')
        parts.append(f'<text x="{cx + 27}" y="{y}" font-size="11">{q.value}</text>')
        cx += 105
    y2 = y + 20
    parts.append(f'<text x="{x}" y="{y2}" font-size="11" fill="#555">node fill: bottleneck severity</text>')
    cx = x + 175
    for sev, fill in SEVERITY_FILLS.items():
        parts.append(f'<rect x="{cx}" y="{y2 - 10}" width="14" height="12" fill="{fill}" stroke="#455a64"/>')
        parts.append(f'<text x="{cx + 19}" y="{y2}" font-size="11">{sev}</text>')
        cx += 90
    parts.append(f'<text x="{cx + 10}" y="{y2}" font-size="11" fill="#b71c1c">red border: on the critical path</text>')
    return parts


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return "<p class='none'>none</p>"
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: AnalysisReport, svg: str) -> str:
    """A self-contained HTML page: the graph (inline SVG) and every finding as a table."""
    g = report.graph
    stats = report.handoff_stats
    agents = [(a.agent_name, a.agent_role or "", str(a.identity_source), a.framework or "", a.invocations,
               f"{a.p95_latency_ms:.1f}", f"{a.success_rate * 100:.1f}%", a.total_tokens, f"${a.total_cost_usd:.6f}")
              for a in report.agents]
    pairs = [(k, v["count"], f"{v['avg_quality_score']:.3f}") for k, v in stats.get("by_pair", {}).items()]
    worst = sorted(report.handoffs, key=lambda h: h.quality_score)[:15]
    handoffs = [(f"{h.from_agent} → {h.to_agent}", str(h.kind), f"{h.quality_score:.3f}", str(h.quality),
                 f"{h.correctness:.0f}", f"{h.efficiency:.3f}", f"{h.success_chain:.3f}", f"{h.gap_ms:.1f}", h.trace_id)
                for h in worst]
    drift = [(f"{d.from_agent} → {d.to_agent}", f"{d.drift_score:.2f}", "yes" if d.has_high_drift else "",
              ", ".join(f"{e.value} ({e.entity_type})" for e in d.lost_entities), d.trace_id)
             for d in sorted(report.drift, key=lambda d: -d.drift_score)[:30]]
    bns = [(b.agent_name, f"{b.bottleneck_score:.3f}", str(b.severity), f"{b.utilization:.2f}",
            f"{b.latency_score:.2f}", f"{b.failure_rate:.2f}", f"{b.downstream_impact:.2f}",
            f"{b.p95_latency_ms:.1f}", " • ".join(b.recommendations))
           for b in report.bottlenecks]
    cos = [(c.coalition_name, c.runs, f"{c.success_rate * 100:.1f}%", f"{c.avg_total_latency_ms:.1f}",
            f"{c.avg_handoff_quality:.3f}",
            report.coalition_ratings.get(c.coalition_id, {}).get("performance_rating", ""))
           for c in report.coalitions]
    anomalies = [(a.operation_name, a.metric_name, str(a.severity), f"{a.anomaly_score:.3f}", a.method, f"{a.value:g}",
                  f"{a.expected:g}", f"{a.deviation:.2f}", a.timestamp.isoformat() if a.timestamp else "")
                 for a in report.anomalies if a.severity.rank >= 1][:50]
    drift_note = "" if report.content_captured else (
        "<p class='none'>No captured content: enable <code>MonitorConfig(capture_content=True)</code> "
        "to check handoffs for lost information.</p>")
    title = f"llamonitor analysis{f' — session {report.session_id}' if report.session_id else ''}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 8px 0 24px; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }} .none {{ color: #777; }} .graph {{ overflow-x: auto; }}
</style></head><body>
<h1>{_esc(title)}</h1>
<p>{report.events} events · {len(report.agents)} agents · {stats.get('total_handoffs', 0)} handoffs
(average quality {stats.get('avg_quality_score', 0.0):.3f}) · max depth {g.max_depth} ·
critical path {g.critical_path_ms:.1f} ms · formulas: docs/analytics.md</p>
<div class="graph">{svg}</div>
<h2>Agents</h2>{_table(["agent", "role", "identity", "framework", "invocations", "p95 ms", "success", "tokens",
                         "cost"], agents)}
<h2>Handoffs by pair</h2>{_table(["pair", "count", "avg quality"], pairs)}
<h2>Lowest-scoring handoffs</h2>{_table(["handoff", "kind", "score", "level", "correct", "efficiency",
                                          "chain", "gap ms", "trace"], handoffs)}
<h2>Context drift</h2>{drift_note}{_table(["handoff", "drift", "high", "lost entities", "trace"], drift)}
<h2>Bottlenecks</h2>{_table(["agent", "score", "severity", "utilisation", "latency", "failure", "downstream",
                              "p95 ms", "recommendations"], bns)}
<h2>Coalitions</h2>{_table(["team", "runs", "success", "avg latency ms", "handoff quality", "rating"], cos)}
<h2>Anomalies (MEDIUM and above)</h2>{_table(["operation", "metric", "severity", "score", "method", "value",
                                               "expected", "deviation", "time"], anomalies)}
</body></html>
"""
