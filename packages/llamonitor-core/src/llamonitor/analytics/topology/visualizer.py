"""Exports of a :class:`RepositoryTopology` for D3, Cytoscape, GraphViz, Sankey charts and a browser.

The HTML viewer is one self-contained file (inline SVG, no script or network fetch): modules are
laid out in columns by import depth, import cycles drawn red and dashed, each node's metrics in
its tooltip.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamonitor.analytics.topology.graph import longest_path_levels
from llamonitor.analytics.topology.models import RepositoryTopology

if TYPE_CHECKING:
    from llamonitor.analytics.topology.correlator import TokenConsumptionCorrelator

VIEWER_TYPES = ("d3-force", "cytoscape", "svg")


def _package(module_path: str) -> str:
    return module_path.rsplit(".", 1)[0] if "." in module_path else "(root)"


def _write(output_path: str | None, text: str) -> None:
    if output_path:
        Path(output_path).write_text(text, encoding="utf-8")


def _dot_id(text: str) -> str:
    """A quoted DOT id; newlines become DOT line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class TopologyVisualizer:
    """Turns a topology into plain data for graph libraries (each method can also write a file)."""

    def export_d3_force_graph(self, topology: RepositoryTopology, output_path: str | None = None,
                              include_functions: bool = False) -> dict[str, Any]:
        """``{"nodes": [...], "links": [...]}`` for a D3 force layout; functions and call links too
        when ``include_functions``."""
        nodes: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for path, m in topology.modules.items():
            nodes.append({"id": path, "name": m.name, "type": "module", "group": _package(path),
                          "metrics": {"functions": len(m.functions), "classes": len(m.classes),
                                      "lines": m.line_count, "complexity": m.complexity_score,
                                      "imports": m.import_count}})
        if include_functions:
            for path, m in topology.modules.items():
                for f in m.all_functions():
                    nodes.append({"id": f.qualified_name, "name": f.name, "type": "function", "group": path,
                                  "metrics": {"complexity": f.complexity, "lines": f.line_count,
                                              "calls": len(f.calls)}})
        for d in topology.module_dependencies:
            links.append({"source": d.from_module, "target": d.to_module, "type": "dependency", "weight": d.weight,
                          "import_type": d.import_type.value, "is_circular": d.is_circular})
        if include_functions:
            for c in topology.function_calls:
                links.append({"source": c.caller, "target": c.callee, "type": "call", "weight": c.call_count})
        data = {"nodes": nodes, "links": links}
        _write(output_path, json.dumps(data, indent=2))
        return data

    def export_cytoscape(self, topology: RepositoryTopology, output_path: str | None = None) -> list[dict[str, Any]]:
        """Cytoscape.js ``elements``: one per module, one per import edge."""
        elements: list[dict[str, Any]] = [
            {"data": {"id": path, "label": m.name, "type": "module", "package": _package(path),
                      "functions": len(m.functions), "classes": len(m.classes), "lines": m.line_count,
                      "complexity": m.complexity_score}}
            for path, m in topology.modules.items()]
        elements.extend(
            {"data": {"id": f"dep_{i}", "source": d.from_module, "target": d.to_module, "type": "dependency",
                      "weight": d.weight, "import_type": d.import_type.value, "is_circular": d.is_circular}}
            for i, d in enumerate(topology.module_dependencies))
        _write(output_path, json.dumps(elements, indent=2))
        return elements

    def export_graphviz_dot(self, topology: RepositoryTopology, output_path: str | None = None,
                            layout: str = "dot") -> str:
        """GraphViz DOT text: one cluster per package, cycle edges red and dashed
        (render with ``dot -Tsvg file.dot -o file.svg``)."""
        if not layout.isidentifier():
            raise ValueError(f"layout must be a GraphViz engine name such as 'dot' or 'neato', not {layout!r}")
        by_package: dict[str, list[str]] = defaultdict(list)
        for path in topology.modules:
            by_package[_package(path)].append(path)
        lines = ["digraph repository_topology {", f"  layout={layout};", "  rankdir=LR;",
                 "  node [shape=box, style=filled, fillcolor=\"#eef3fb\"];"]
        for i, (package, paths) in enumerate(sorted(by_package.items())):
            lines.append(f"  subgraph cluster_{i} {{")
            lines.append(f"    label={_dot_id(package)};")
            for path in sorted(paths):
                m = topology.modules[path]
                label = (f"{m.name}\nfunctions {len(m.functions)}, classes {len(m.classes)}\n"
                         f"lines {m.line_count}, complexity {m.complexity_score:.1f}")
                lines.append(f"    {_dot_id(path)} [label={_dot_id(label)}];")
            lines.append("  }")
        for d in topology.module_dependencies:
            style = "style=dashed, color=red" if d.is_circular else "color=black"
            lines.append(f"  {_dot_id(d.from_module)} -> {_dot_id(d.to_module)} [{style}, weight={d.weight}];")
        lines.append("}")
        text = "\n".join(lines) + "\n"
        _write(output_path, text)
        return text

    def export_sankey(self, topology: RepositoryTopology, output_path: str | None = None,
                      include_token_data: bool = False,
                      correlator: TokenConsumptionCorrelator | None = None) -> dict[str, Any]:
        """Sankey data (Plotly / d3-sankey): nodes by index, one link per import weighted by its
        import count; with ``include_token_data`` and a ``correlator``, each node also carries the
        tokens recorded for its module."""
        index = {path: i for i, path in enumerate(topology.modules)}
        nodes: list[dict[str, Any]] = [{"id": i, "label": path} for path, i in index.items()]
        if include_token_data and correlator is not None:
            for node in nodes:
                node["tokens"] = correlator.tracked_modules.get(node["label"], {}).get("total_tokens", 0)
        links = [{"source": index[d.from_module], "target": index[d.to_module], "value": d.weight,
                  "type": d.import_type.value}
                 for d in topology.module_dependencies if d.from_module in index and d.to_module in index]
        data = {"nodes": nodes, "links": links}
        _write(output_path, json.dumps(data, indent=2))
        return data

    def export_html_viewer(self, topology: RepositoryTopology, output_path: str,
                           visualization_type: str = "d3-force") -> None:
        """Write a self-contained HTML page drawing the import graph (see the module doc).

        Every ``visualization_type`` of the seed (``"d3-force"``, ``"cytoscape"``) gives this
        same static drawing, so the page opens without network access.
        """
        if visualization_type not in VIEWER_TYPES:
            raise ValueError(f"unknown visualization_type {visualization_type!r}; use one of {', '.join(VIEWER_TYPES)}")
        Path(output_path).write_text(self.render_html(topology), encoding="utf-8")

    def render_html(self, topology: RepositoryTopology) -> str:
        """The HTML page :meth:`export_html_viewer` writes."""
        level = _levels(topology)
        columns: dict[int, list[str]] = defaultdict(list)
        for path in sorted(topology.modules):
            columns[level.get(path, 0)].append(path)
        pos: dict[str, tuple[int, int]] = {}
        width, row = 260, 44
        for col, paths in columns.items():
            for i, path in enumerate(paths):
                pos[path] = (20 + col * width, 30 + i * row)
        w = 40 + (max(columns, default=0) + 1) * width
        h = 60 + max((len(p) for p in columns.values()), default=1) * row
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
                 'font-size="12"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
                 'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>']
        for d in topology.module_dependencies:
            if d.from_module not in pos or d.to_module not in pos:
                continue
            (x1, y1), (x2, y2) = pos[d.from_module], pos[d.to_module]
            style = 'stroke="#d33" stroke-dasharray="5,4"' if d.is_circular else 'stroke="#888"'
            parts.append(f'<line x1="{x1 + 200}" y1="{y1 + 14}" x2="{x2}" y2="{y2 + 14}" {style} '
                         f'stroke-width="{min(1 + d.weight, 4)}" marker-end="url(#arrow)"/>')
        for path, (x, y) in pos.items():
            m = topology.modules[path]
            tip = html.escape(f"{path}\nfunctions {len(m.functions)}, classes {len(m.classes)}\n"
                              f"lines {m.line_count}, complexity {m.complexity_score:.2f}, imports {m.import_count}")
            parts.append(f'<g><title>{tip}</title><rect x="{x}" y="{y}" width="200" height="28" rx="5" '
                         f'fill="#eef3fb" stroke="#4a6fa5"/><text x="{x + 8}" y="{y + 18}">'
                         f'{html.escape(path if len(path) <= 30 else "…" + path[-29:])}</text></g>')
        parts.append("</svg>")
        mt = topology.metrics
        summary = html.escape(f"{mt.total_modules} modules, {mt.total_functions} functions, {mt.total_classes} "
                              f"classes, {mt.total_lines} lines, {mt.total_dependencies} imports, "
                              f"{mt.circular_dependencies} import cycles, max depth {mt.max_depth}")
        title = html.escape(topology.repository_path or "repository topology")
        return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + title + "</title></head>"
                "<body style=\"margin:16px;font-family:sans-serif\"><h1 style=\"font-size:18px\">" + title +
                "</h1><p>" + summary + "</p>" + "".join(parts) + "</body></html>\n")


def _levels(topology: RepositoryTopology) -> dict[str, int]:
    """Column of each module: the longest import chain leading to it (cycle edges ignored)."""
    modules = set(topology.modules)
    return longest_path_levels(topology.modules, [
        (d.from_module, d.to_module) for d in topology.module_dependencies
        if not d.is_circular and d.from_module in modules and d.to_module in modules])
