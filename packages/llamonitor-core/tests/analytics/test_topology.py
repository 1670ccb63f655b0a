"""Code topology on a small repository with known structure, called the seed way (``llmops_monitoring.topology``)."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid
from pathlib import Path

import pytest
from llamonitor.schema.events import MetricEvent, TextMetrics, TokenUsage
from llmops_monitoring.topology import (
    CodeParser,
    DependencyGraphBuilder,
    RepositoryTopology,
    TokenConsumptionCorrelator,
    TopologyVisualizer,
)
from llmops_monitoring.topology.models import FunctionType, ImportType

FILES = {
    "app/__init__.py": "",
    "app/core.py": '''
        """Core."""
        import json
        from app import util
        from .models import Record


        def summarize(text):
            if text and len(text) > 10:
                for w in text.split():
                    pass
            return util.clean(text)


        class Agent:
            def run(self, x):
                return self.step(x)

            def step(self, x):
                return summarize(x) if x else None

            @property
            def name(self):
                return "a"
        ''',
    "app/util.py": '''
        from app.core import summarize


        def clean(text):
            return text.strip()


        def helper():
            return clean(" x ")
        ''',
    "app/models.py": '''
        class Record:
            def __init__(self):
                pass


        def clean(x):
            return x
        ''',
    "broken.py": "def (:\n",
    "deep.py": "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",
    "nul.py": "a = 1\x00\n",
    "tests/test_app.py": "def test_x():\n    pass\n",
    ".venv/lib/site.py": "def hidden():\n    pass\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel, text in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return tmp_path


@pytest.fixture
def topology(repo: Path) -> RepositoryTopology:
    modules = CodeParser().parse_repository(str(repo))
    return DependencyGraphBuilder().build_repository_topology(modules, repository_path=str(repo))


def test_parser_reads_structure_and_skips_excluded_and_broken_files(repo: Path) -> None:
    parser = CodeParser()
    modules = parser.parse_repository(str(repo), include_patterns=["**/*.py"],
                                      exclude_patterns=["**/test_*.py", "**/tests/**", "**/.venv/**"])
    assert sorted(modules) == ["app", "app.core", "app.models", "app.util"]
    assert sorted(p for p, _ in parser.errors) == [str(repo / f) for f in ("broken.py", "deep.py", "nul.py")]
    core = modules["app.core"]
    assert core.docstring == "Core." and core.dependencies == {"json", "app"} and core.import_count == 3
    assert [(i.module_name, i.level, i.import_type) for i in core.imports] == [
        ("json", 0, ImportType.IMPORT), ("app", 0, ImportType.FROM_IMPORT), ("models", 1, ImportType.RELATIVE)]
    (summarize,) = core.functions
    # 1 + if + `and` + for
    assert summarize.complexity == 4.0 and summarize.qualified_name == "app.core.summarize"
    assert summarize.calls == ["len", "text.split", "util.clean"]
    (agent,) = core.classes
    assert [m.name for m in agent.methods] == ["run", "step", "name"] and agent.properties == ["name"]
    assert agent.methods[1].complexity == 2.0 and agent.methods[2].function_type is FunctionType.PROPERTY
    assert agent.methods[0].parameters == ["self", "x"] and agent.methods[0].line_count == 2
    assert core.complexity_score == pytest.approx((4 + 1 + 2 + 1) / 4)
    assert modules["app"].is_package and not core.is_package


def test_graph_resolves_imports_calls_and_the_cycle(topology: RepositoryTopology) -> None:
    edges = {(e.from_module, e.to_module): e for e in topology.module_dependencies}
    assert set(edges) == {("app.core", "app.util"), ("app.core", "app.models"), ("app.util", "app.core")}
    assert edges[("app.core", "app.util")].is_circular and edges[("app.util", "app.core")].is_circular
    assert not edges[("app.core", "app.models")].is_circular
    assert edges[("app.core", "app.models")].imported_names == ["Record"]
    assert [c.cycle for c in topology.circular_deps] == [["app.core", "app.util"]]
    calls = {(c.caller, c.callee) for c in topology.function_calls}
    assert calls == {("app.core.summarize", "app.util.clean"), ("app.core.Agent.run", "app.core.Agent.step"),
                     ("app.core.Agent.step", "app.core.summarize"), ("app.util.helper", "app.util.clean")}
    m = topology.metrics
    assert (m.total_modules, m.total_functions, m.total_classes) == (4, 4, 2)
    assert (m.total_dependencies, m.circular_dependencies, m.max_depth, m.total_calls) == (3, 1, 1, 4)
    assert m.max_complexity == 4.0 and m.most_complex_functions[0] == "app.core.summarize"
    assert m.most_imported_modules[0] in ("app.core", "app.util", "app.models")
    assert m.most_dependent_modules[0] == "app.core" and not m.cycles_truncated


def test_cycle_listing_is_bounded() -> None:
    from llamonitor.analytics.topology.models import DependencyEdge

    # a complete graph of 8 modules has 8! / 8 * ... thousands of cycles
    names = [f"m{i}" for i in range(8)]
    edges = [DependencyEdge(a, b) for a in names for b in names if a != b]
    builder = DependencyGraphBuilder(max_cycles=50)
    cycles = builder.detect_circular_dependencies(edges)
    assert len(cycles) == 50 and all(e.is_circular for e in edges)
    assert builder.calculate_metrics(RepositoryTopology(module_dependencies=edges)).cycles_truncated


def test_visualizer_exports(topology: RepositoryTopology, tmp_path: Path) -> None:
    v = TopologyVisualizer()
    d3 = v.export_d3_force_graph(topology, str(tmp_path / "d3.json"), include_functions=True)
    assert len([n for n in d3["nodes"] if n["type"] == "module"]) == 4
    assert len([n for n in d3["nodes"] if n["type"] == "function"]) == 8
    assert len(d3["links"]) == 3 + 4 and json.loads((tmp_path / "d3.json").read_text()) == d3
    cy = v.export_cytoscape(topology)
    assert len(cy) == 4 + 3 and {e["data"]["id"] for e in cy if "source" in e["data"]} == {"dep_0", "dep_1", "dep_2"}
    dot = v.export_graphviz_dot(topology)
    assert '"app.util" -> "app.core" [style=dashed, color=red' in dot and dot.startswith("digraph")
    with pytest.raises(ValueError):
        v.export_graphviz_dot(topology, layout='dot"; evil')
    sankey = v.export_sankey(topology)
    assert len(sankey["nodes"]) == 4 and sum(link["value"] for link in sankey["links"]) == 3
    page = tmp_path / "topology.html"
    v.export_html_viewer(topology, str(page), visualization_type="d3-force")
    html = page.read_text(encoding="utf-8")
    assert "app.core" in html and "<svg" in html and "<script" not in html and "http" not in html.split("<svg")[0]
    with pytest.raises(ValueError):
        v.export_html_viewer(topology, str(page), visualization_type="three-d")


def _event(op: str, tokens: int | None = None, cost: float | None = None, **attrs: object) -> MetricEvent:
    from llamonitor.schema.events import CostInfo

    return MetricEvent(session_id="s", trace_id="t", span_id=uuid.uuid4().hex[:16], operation_name=op,
                       start_time_ns=1_700_000_000_000_000_000, end_time_ns=1_700_000_000_100_000_000,
                       duration_ms=100.0, usage=TokenUsage(total_tokens=tokens) if tokens is not None else None,
                       cost=CostInfo(total_cost_usd=cost) if cost is not None else None,
                       custom_attributes=dict(attrs))


def test_correlator_ties_events_to_functions(topology: RepositoryTopology) -> None:
    c = TokenConsumptionCorrelator()
    c.load_topology(topology)
    assert len(c.tracked_functions) == 8 and len(c.tracked_modules) == 4
    events = [_event("summarize", 100, 0.01) for _ in range(3)]
    events += [_event("whatever", 50, function_name="Agent.run") for _ in range(2)]
    events += [_event("unknown_op", 7), _event("clean", 9)]
    events.append(MetricEvent(session_id="s", trace_id="t", span_id="x1", operation_name="helper",
                              start_time_ns=1, end_time_ns=2, duration_ms=0.0,
                              text_metrics=TextMetrics(total_tokens=12)))
    assert c.track_events(events) == 6
    assert dict(c.unmatched) == {"unknown_op": 1} and dict(c.ambiguous) == {"clean": 1}
    top = c.get_top_token_consumers(limit=10)
    assert [(u.function_info.qualified_name, u.token_consumption.total_tokens, u.token_consumption.total_calls)
            for u in top] == [("app.core.summarize", 300, 3), ("app.core.Agent.run", 100, 2),
                              ("app.util.helper", 12, 1)]
    assert top[0].token_consumption.total_cost_usd == pytest.approx(0.03)
    assert top[0].tokens_per_line == pytest.approx(300 / 5)
    # 0.5 * 300/300 + 0.3 * 100/100 + 0.2 * 4/10; 0.5 * 100/300 + 0.3 * 50/100 + 0.2 * 1/10
    assert top[0].optimization_potential == 0.88 and top[1].optimization_potential == pytest.approx(0.3367)
    modules = c.get_top_token_consumers(component_type="module")
    assert [(u.function_info.qualified_name, u.token_consumption.total_tokens) for u in modules] == [
        ("app.core", 400), ("app.util", 12)]
    assert [u.function_info.qualified_name for u in c.find_optimization_candidates(200, 3)] == ["app.core.summarize"]
    hot = c.analyze_hotspots(min_tokens=200, min_calls=3)
    assert hot.total_tokens_analyzed == 412 and hot.potential_savings == round(100 * 300 * 0.2 / 412, 2)
    assert hot.top_modules_by_tokens == ["app.core", "app.util"]
    assert hot.recommendations[0].startswith("app.core.summarize uses 73% of all tokens")
    assert any("2 events matched no single scanned function" in r for r in hot.recommendations)
    report = c.get_function_report("summarize")
    assert report is not None and report["total_calls"] == 3 and report["line_range"] == "7-11"
    data = c.export_correlation_data()
    json.dumps(data)  # JSON-ready
    assert data["functions"][0]["component_name"] == "app.core.summarize" and data["unmatched"] == {"unknown_op": 1}
    with pytest.raises(ValueError):
        c.get_top_token_consumers(component_type="class")


def test_correlator_needs_a_topology() -> None:
    with pytest.raises(RuntimeError, match="load_topology"):
        TokenConsumptionCorrelator().track_event(_event("x", 1))


def test_postgres_topology_storage(topology: RepositoryTopology) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    from llmops_monitoring.transport.backends.postgres_topology_storage import PostgresTopologyStorage

    prefix = f"t{uuid.uuid4().hex[:8]}_"

    async def run() -> None:
        pool = await asyncpg.create_pool(dsn="postgresql://postgres@127.0.0.1:5432/test", min_size=1, max_size=2)
        storage = PostgresTopologyStorage(pool, table_prefix=prefix)
        try:
            await storage.create_topology_tables()
            snapshot = await storage.save_topology_snapshot(topology)
            assert snapshot == topology.topology_id
            await storage.save_topology_snapshot(topology)  # replaces, no duplicate
            row = await storage.get_latest_snapshot(topology.repository_path)
            assert row is not None and row["total_modules"] == 4 and row["circular_dependencies"] == 1
            doc = row["topology"] if isinstance(row["topology"], dict) else json.loads(row["topology"])
            assert sorted(doc["modules"]) == ["app", "app.core", "app.models", "app.util"]
            await storage.save_token_consumption(snapshot, "function", "app.core.summarize", 300, 3, 100.0, 0.03)
            await storage.save_token_consumption(snapshot, "function", "app.core.Agent.run", 100, 2, 50.0)
            await storage.save_token_consumption(snapshot, "function", "app.core.summarize", 400, 4, 100.0, 0.04)
            top = await storage.get_top_token_consumers(snapshot, limit=5)
            assert [(r["component_name"], r["total_tokens"]) for r in top] == [
                ("app.core.summarize", 400), ("app.core.Agent.run", 100)]
            assert await storage.get_latest_snapshot("/nowhere") is None
        finally:
            async with pool.acquire() as conn:
                await conn.execute(f"DROP TABLE IF EXISTS {prefix}component_token_consumption, "
                                   f"{prefix}topology_snapshots")
            await pool.close()

    asyncio.run(run())
    with pytest.raises(ValueError):
        PostgresTopologyStorage(None, schema="public; drop")


def test_longest_path_levels_counts_the_longest_chain_and_leaves_cycles_at_zero() -> None:
    from llamonitor.analytics.topology.graph import longest_path_levels

    # a -> b -> d and a -> c -> e -> d: d sits at the end of the longer chain (3 edges)
    edges = [("a", "b"), ("b", "d"), ("a", "c"), ("c", "e"), ("e", "d"), ("x", "y"), ("y", "x")]
    assert longest_path_levels("abcdexy", edges) == {"a": 0, "b": 1, "c": 1, "d": 3, "e": 2, "x": 0, "y": 0}
