"""Import graph, call graph, import cycles and metrics of parsed modules (no third-party graph library).

Imports are resolved to scanned modules only (standard library and installed packages are
left out): by exact dotted path, else by a unique suffix (``pkg.mod`` finds ``src.pkg.mod`` in a
``src/`` layout); relative imports from the importing module's package. A ``from a import b``
depends on the submodule ``a.b`` when there is one, else on ``a``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from llamonitor.analytics.topology.models import (
    CallEdge,
    CircularDependency,
    DependencyEdge,
    FunctionInfo,
    ImportStatement,
    ImportType,
    ModuleInfo,
    RepositoryTopology,
    TopologyMetrics,
)

TOP_N = 10


class _Resolver:
    """Maps dotted names to scanned modules (exact, else unique suffix)."""

    def __init__(self, modules: Iterable[str]) -> None:
        self.modules = set(modules)
        suffixes: dict[str, set[str]] = defaultdict(set)
        for m in self.modules:
            parts = m.split(".")
            for i in range(1, len(parts)):
                suffixes[".".join(parts[i:])].add(m)
        self.suffix = {k: next(iter(v)) for k, v in suffixes.items() if len(v) == 1}

    def exact(self, name: str) -> str | None:
        if name in self.modules:
            return name
        return self.suffix.get(name)

    def longest(self, name: str) -> str | None:
        """The scanned module of ``name`` or of its longest dotted prefix that is one."""
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            got = self.exact(".".join(parts[:cut]))
            if got is not None:
                return got
        return None


def _base_package(module: ModuleInfo, level: int) -> str:
    parts = module.module_path.split(".") if module.module_path else []
    if not module.is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: max(0, len(parts) - (level - 1))]
    return ".".join(parts)


def _import_targets(module: ModuleInfo, imp: ImportStatement, r: _Resolver) -> list[tuple[str, list[str]]]:
    """(target module, names) for one import statement."""
    if imp.import_type is ImportType.IMPORT:
        got = r.longest(imp.module_name)
        return [(got, list(imp.imported_names))] if got else []
    if imp.level:
        base = _base_package(module, imp.level)
        full = ".".join(p for p in (base, imp.module_name) if p)
    else:
        full = imp.module_name
    out: dict[str, list[str]] = {}
    for name in imp.imported_names:
        sub = r.exact(f"{full}.{name}") if full else r.exact(name)
        target = sub or (r.longest(full) if full else None)
        if target:
            out.setdefault(target, []).append(name)
    return list(out.items())


class DependencyGraphBuilder:
    """Builds a :class:`RepositoryTopology` from :meth:`CodeParser.parse_repository` output.

    ``max_cycles`` bounds the listing of import cycles (a tangled code base can have millions);
    ``metrics.cycles_truncated`` says when it was reached.
    """

    def __init__(self, max_cycles: int = 1000, max_cycle_steps: int = 200_000) -> None:
        self.max_cycles = max_cycles
        self.max_cycle_steps = max_cycle_steps
        #: module -> imported module -> weight, of the last build
        self.module_graph: dict[str, dict[str, int]] = {}
        #: caller -> callee -> call count, of the last build
        self.call_graph: dict[str, dict[str, int]] = {}
        self._truncated = False

    def build_repository_topology(self, modules: Mapping[str, ModuleInfo],
                                  repository_path: str = "") -> RepositoryTopology:
        """Import graph, call graph, cycles and metrics of ``modules``."""
        topology = RepositoryTopology(repository_path=repository_path, modules=dict(modules))
        topology.module_dependencies = self.build_module_dependencies(modules)
        topology.function_calls = self.build_call_graph(modules)
        topology.circular_deps = self.detect_circular_dependencies(topology.module_dependencies)
        topology.metrics = self.calculate_metrics(topology)
        return topology

    # -- imports ----------------------------------------------------------------------------
    def build_module_dependencies(self, modules: Mapping[str, ModuleInfo]) -> list[DependencyEdge]:
        """One edge per (importing module, imported scanned module); ``weight`` = import statements."""
        r = _Resolver(modules)
        edges: dict[tuple[str, str], DependencyEdge] = {}
        for path, info in modules.items():
            for imp in info.imports:
                for target, names in _import_targets(info, imp, r):
                    if target == path:
                        continue
                    edge = edges.get((path, target))
                    if edge is None:
                        edges[(path, target)] = DependencyEdge(path, target, imp.import_type, list(names))
                    else:
                        edge.weight += 1
                        edge.imported_names.extend(n for n in names if n not in edge.imported_names)
        self.module_graph = defaultdict(dict)
        for e in edges.values():
            self.module_graph[e.from_module][e.to_module] = e.weight
        self.module_graph = dict(self.module_graph)
        return list(edges.values())

    # -- calls ------------------------------------------------------------------------------
    def build_call_graph(self, modules: Mapping[str, ModuleInfo]) -> list[CallEdge]:
        """Calls between scanned functions, resolved through each module's names and imports
        (``helper()``, ``self.step()``, ``mod.func()``, ``from m import f as g; g()``); calls
        that cannot be tied to a scanned function (built-ins, libraries, dynamic) are left out."""
        r = _Resolver(modules)
        functions: dict[str, FunctionInfo] = {}
        classes: dict[str, set[str]] = {}
        for info in modules.values():
            for f in info.functions:
                functions[f.qualified_name] = f
            for c in info.classes:
                classes[c.qualified_name] = {m.name for m in c.methods}
                for m in c.methods:
                    functions[m.qualified_name] = m
        counts: dict[tuple[str, str], CallEdge] = {}
        for info in modules.values():
            names = self._names(info, r, functions, classes)
            for f in info.all_functions():
                for call in f.calls:
                    callee = self._resolve_call(call, f, info, names, r, functions, classes)
                    if callee is None:
                        continue
                    edge = counts.get((f.qualified_name, callee))
                    if edge is None:
                        counts[(f.qualified_name, callee)] = CallEdge(f.qualified_name, callee, 1, f.line_start)
                    else:
                        edge.call_count += 1
        self.call_graph = defaultdict(dict)
        for e in counts.values():
            self.call_graph[e.caller][e.callee] = e.call_count
        self.call_graph = dict(self.call_graph)
        return list(counts.values())

    @staticmethod
    def _names(info: ModuleInfo, r: _Resolver, functions: Mapping[str, FunctionInfo],
               classes: Mapping[str, set[str]]) -> dict[str, str]:
        """Names usable in ``info``: local functions/classes and imports -> qualified name or module."""
        names: dict[str, str] = {}
        for imp in info.imports:
            local_of = {v: k for k, v in imp.aliases.items()}
            if imp.import_type is ImportType.IMPORT:
                target = r.exact(imp.module_name)
                if imp.alias and target:
                    names[imp.alias] = target
                elif not imp.alias:
                    head = imp.module_name.split(".")[0]
                    got = r.exact(head)
                    names.setdefault(head, got or head)
                continue
            base = _base_package(info, imp.level) if imp.level else ""
            full = ".".join(p for p in (base, imp.module_name) if p)
            module = r.exact(full) if full else None
            for name in imp.imported_names:
                local = local_of.get(name, name)
                sub = r.exact(f"{full}.{name}") if full else r.exact(name)
                if sub:
                    names[local] = sub
                elif module and (f"{module}.{name}" in functions or f"{module}.{name}" in classes):
                    names[local] = f"{module}.{name}"
        for c in info.classes:
            names[c.qualified_name[len(info.module_path) + 1:]] = c.qualified_name
        for f in info.functions:
            names[f.name] = f.qualified_name
        return names

    @staticmethod
    def _resolve_call(call: str, caller: FunctionInfo, info: ModuleInfo, names: Mapping[str, str], r: _Resolver,
                      functions: Mapping[str, FunctionInfo], classes: Mapping[str, set[str]]) -> str | None:
        def callable_of(qualified: str) -> str | None:
            if qualified in functions:
                return qualified
            if qualified in classes:  # instantiating a class runs its __init__
                init = f"{qualified}.__init__"
                return init if init in functions else None
            return None

        head, _, rest = call.partition(".")
        if head in ("self", "cls") and rest and caller.parent_class:
            return callable_of(f"{info.module_path}.{caller.parent_class}.{rest}")
        target = names.get(head)
        if target is None:
            return callable_of(call)  # fully qualified in the source
        full = f"{target}.{rest}" if rest else target
        got = callable_of(full)
        if got is None and rest:
            # ``import pkg`` then ``pkg.sub.func()``: the longest module prefix, then the attribute
            module = r.longest(full)
            if module is not None and module != full:
                got = callable_of(f"{module}.{full[len(module) + 1:]}")
        return got

    # -- cycles -----------------------------------------------------------------------------
    def detect_circular_dependencies(self, dependencies: list[DependencyEdge]) -> list[CircularDependency]:
        """Import cycles (each once, starting at its smallest module), at most ``max_cycles``;
        marks ``is_circular`` on every edge inside a cycle."""
        graph: dict[str, list[str]] = defaultdict(list)
        for e in dependencies:
            graph[e.from_module].append(e.to_module)
        components = _strongly_connected(graph)
        comp_of = {n: i for i, comp in enumerate(components) for n in comp}
        for e in dependencies:
            e.is_circular = comp_of.get(e.from_module) == comp_of.get(e.to_module) and e.from_module != e.to_module
        cycles: list[CircularDependency] = []
        self._truncated = False
        steps = 0
        for comp in components:
            if len(comp) < 2:
                continue
            order = sorted(comp)
            rank = {n: i for i, n in enumerate(order)}
            for start in order:
                # paths from ``start`` through modules ranked above it back to ``start``
                stack: list[tuple[str, list[str]]] = [(start, [start])]
                while stack:
                    node, path = stack.pop()
                    for nxt in sorted(graph[node], reverse=True):
                        steps += 1
                        if nxt == start:
                            cycles.append(CircularDependency(cycle=list(path)))
                        elif nxt in rank and rank[nxt] > rank[start] and nxt not in path:
                            stack.append((nxt, [*path, nxt]))
                    if len(cycles) >= self.max_cycles or steps >= self.max_cycle_steps:
                        self._truncated = True
                        cycles.sort(key=lambda c: (c.cycle_length, c.cycle))
                        return cycles[: self.max_cycles]
        cycles.sort(key=lambda c: (c.cycle_length, c.cycle))
        return cycles

    # -- metrics ----------------------------------------------------------------------------
    def calculate_metrics(self, topology: RepositoryTopology) -> TopologyMetrics:
        """Totals, depth, complexity and rankings (``docs/topology.md`` defines each)."""
        modules = topology.modules
        every = [f for m in modules.values() for f in m.all_functions()]
        complexities = [f.complexity for f in every]
        imported: dict[str, int] = defaultdict(int)
        depends: dict[str, int] = defaultdict(int)
        for e in topology.module_dependencies:
            imported[e.to_module] += e.weight
            depends[e.from_module] += 1
        return TopologyMetrics(
            total_modules=len(modules), total_functions=sum(len(m.functions) for m in modules.values()),
            total_classes=sum(len(m.classes) for m in modules.values()),
            total_lines=sum(m.line_count for m in modules.values()),
            total_dependencies=len(topology.module_dependencies), circular_dependencies=len(topology.circular_deps),
            max_depth=_longest_chain(topology.module_dependencies),
            avg_complexity=sum(complexities) / len(complexities) if complexities else 0.0,
            max_complexity=max(complexities, default=0.0),
            avg_function_length=sum(f.line_count for f in every) / len(every) if every else 0.0,
            total_calls=len(topology.function_calls),
            most_complex_modules=[p for p, _ in sorted(modules.items(), key=lambda kv: (-kv[1].complexity_score,
                                                                                        kv[0]))[:TOP_N]],
            most_complex_functions=[f.qualified_name for f in sorted(every, key=lambda f: (-f.complexity,
                                                                                           f.qualified_name))[:TOP_N]],
            most_imported_modules=[m for m, _ in sorted(imported.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]],
            most_dependent_modules=[m for m, _ in sorted(depends.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]],
            cycles_truncated=self._truncated)


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative, so deep graphs do not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    nodes = sorted({*graph, *(t for ts in graph.values() for t in ts)})
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = graph.get(node, [])
            recursed = False
            while i < len(targets):
                t = targets[i]
                i += 1
                if t not in index:
                    work.append((node, i))
                    work.append((t, 0))
                    recursed = True
                    break
                if t in on_stack:
                    low[node] = min(low[node], index[t])
            if recursed:
                continue
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _longest_chain(edges: list[DependencyEdge]) -> int:
    """Most import steps on a path, a cycle counting as one module (longest path of the condensation)."""
    graph: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        graph[e.from_module].append(e.to_module)
    comps = _strongly_connected(graph)
    comp_of = {n: i for i, c in enumerate(comps) for n in c}
    pairs = {(comp_of[e.from_module], comp_of[e.to_module]) for e in edges}
    depth = longest_path_levels(range(len(comps)), [(a, b) for a, b in pairs if a != b])
    return max(depth.values(), default=0)


def longest_path_levels(nodes: Iterable[Hashable], edges: Iterable[tuple[Hashable, Hashable]]) -> dict[Any, int]:
    """Level of each node of an acyclic graph: the most edges on a path leading to it (Kahn's order).

    A node on a cycle (and what only it leads to) never becomes ready and keeps level 0.
    """
    succ: dict[Any, list[Any]] = defaultdict(list)
    indeg: dict[Any, int] = dict.fromkeys(nodes, 0)
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    level = dict.fromkeys(indeg, 0)
    ready = [n for n, d in indeg.items() if d == 0]
    while ready:
        a = ready.pop()
        for b in succ[a]:
            level[b] = max(level[b], level[a] + 1)
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    return level
