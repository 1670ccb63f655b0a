"""Ties recorded events to the scanned functions that made them: tokens, calls and cost per function and module.

An event is attributed to a function by, in order: ``custom_attributes["code.function"]``
(with ``"code.namespace"`` if present), ``["function_name"]``, ``["function"]``, then its
``operation_name`` (``@monitor_llm`` names operations after the decorated function by default).
A name matches a function's qualified name exactly, else as its unique dotted suffix
(``summarize`` or ``Agent.run``). Names matching no function, or several, are counted in
:attr:`TokenConsumptionCorrelator.unmatched` / :attr:`~TokenConsumptionCorrelator.ambiguous`.

``optimization_potential = 0.5 * volume + 0.3 * intensity + 0.2 * min(1, complexity / 10)``,
where ``volume`` is the function's tokens over the largest function total and ``intensity`` its
tokens per call over the largest per-call figure (both in [0, 1]).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llamonitor.analytics.topology.models import (
    ComponentUsage,
    FunctionInfo,
    HotspotAnalysis,
    RepositoryTopology,
    TokenConsumption,
    jsonable,
)
from llamonitor.schema.events import MetricEvent

_NAME_KEYS = ("function_name", "function")


@dataclass
class TrackedFunction:
    """A scanned function and what was recorded for it."""

    qualified_name: str
    function_info: FunctionInfo
    total_tokens: int = 0
    total_calls: int = 0
    total_cost: float = 0.0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


def event_tokens(event: MetricEvent) -> int:
    """Reported usage first (total, else input + output), else measured text tokens, else 0."""
    u = event.usage
    if u is not None:
        if u.total_tokens is not None:
            return int(u.total_tokens)
        if u.input_tokens is not None or u.output_tokens is not None:
            return int(u.input_tokens or 0) + int(u.output_tokens or 0)
    tm = event.text_metrics
    return int(tm.total_tokens) if tm is not None and tm.total_tokens is not None else 0


def _cost(event: MetricEvent) -> float:
    c = event.cost
    return float(c.total_cost_usd) if c is not None and c.total_cost_usd is not None else 0.0


class TokenConsumptionCorrelator:
    """Correlates recorded token use with a :class:`RepositoryTopology` (see the module doc)."""

    def __init__(self) -> None:
        self.topology: RepositoryTopology | None = None
        self.tracked_functions: dict[str, TrackedFunction] = {}
        #: module path -> {"module_info", "total_tokens", "total_calls", "total_cost", "functions"}
        self.tracked_modules: dict[str, dict[str, Any]] = {}
        #: dotted suffix (``name``, ``Class.name``, ``mod.name`` ...) -> qualified name, when unique
        self.function_name_map: dict[str, str] = {}
        self._ambiguous_names: set[str] = set()
        self._module_by_function: dict[str, str] = {}
        #: events whose name matched no scanned function, by name
        self.unmatched: Counter[str] = Counter()
        #: events whose name matched several functions, by name
        self.ambiguous: Counter[str] = Counter()
        self.call_stack: list[str] = []

    def load_topology(self, topology: RepositoryTopology) -> None:
        """Track every function and module of ``topology`` (resets earlier figures)."""
        self.topology = topology
        self.tracked_functions, self.tracked_modules, self._module_by_function = {}, {}, {}
        self.unmatched, self.ambiguous = Counter(), Counter()
        suffixes: dict[str, set[str]] = {}
        for path, m in topology.modules.items():
            funcs = m.all_functions()
            self.tracked_modules[path] = {"module_info": m, "total_tokens": 0, "total_calls": 0, "total_cost": 0.0,
                                          "functions": [f.qualified_name for f in funcs]}
            for f in funcs:
                self.tracked_functions[f.qualified_name] = TrackedFunction(f.qualified_name, f)
                self._module_by_function[f.qualified_name] = path
                parts = f.qualified_name.split(".")
                for i in range(1, len(parts)):
                    suffixes.setdefault(".".join(parts[i:]), set()).add(f.qualified_name)
        self.function_name_map = {k: next(iter(v)) for k, v in suffixes.items() if len(v) == 1}
        self._ambiguous_names = {k for k, v in suffixes.items() if len(v) > 1}

    # -- attribution ------------------------------------------------------------------------
    def resolve(self, name: str) -> str | None:
        """The qualified name of the one scanned function ``name`` denotes, or ``None``."""
        if name in self.tracked_functions:
            return name
        return self.function_name_map.get(name)

    def _names(self, event: MetricEvent) -> list[str]:
        attrs = event.custom_attributes or {}
        names: list[str] = []
        fn = attrs.get("code.function")
        if isinstance(fn, str) and fn:
            ns = attrs.get("code.namespace")
            if isinstance(ns, str) and ns:
                names.append(f"{ns}.{fn}")
            names.append(fn)
        names.extend(v for k in _NAME_KEYS for v in [attrs.get(k)] if isinstance(v, str) and v)
        names.append(event.operation_name)
        return names

    def track_event(self, event: MetricEvent) -> str | None:
        """Add ``event``'s tokens, call and cost to its function and module; returns the function's
        qualified name, or ``None`` when it could not be attributed (counted, see the module doc)."""
        if self.topology is None:
            raise RuntimeError("no topology loaded: call load_topology(topology) first")
        names = self._names(event)
        qualified = next((q for q in map(self.resolve, names) if q is not None), None)
        if qualified is None:
            key = names[-1]
            if any(n in self._ambiguous_names for n in names):
                self.ambiguous[key] += 1
            else:
                self.unmatched[key] += 1
            return None
        tokens, cost, when = event_tokens(event), _cost(event), event.timestamp
        tf = self.tracked_functions[qualified]
        tf.total_tokens += tokens
        tf.total_calls += 1
        tf.total_cost += cost
        if tf.first_seen is None or when < tf.first_seen:
            tf.first_seen = when
        if tf.last_seen is None or when > tf.last_seen:
            tf.last_seen = when
        module = self._module_by_function.get(qualified)
        if module is not None:
            data = self.tracked_modules[module]
            data["total_tokens"] += tokens
            data["total_calls"] += 1
            data["total_cost"] += cost
        return qualified

    def track_events(self, events: Iterable[MetricEvent]) -> int:
        """:meth:`track_event` for each event; returns how many were attributed."""
        return sum(self.track_event(e) is not None for e in events)

    # the seed's manual call-stack helpers
    def track_function_call(self, function_name: str) -> None:
        """Push ``function_name`` on :attr:`call_stack`."""
        self.call_stack.append(function_name)

    def track_function_return(self) -> None:
        """Pop :attr:`call_stack`."""
        if self.call_stack:
            self.call_stack.pop()

    def get_current_function(self) -> str | None:
        """Top of :attr:`call_stack`."""
        return self.call_stack[-1] if self.call_stack else None

    # -- results ----------------------------------------------------------------------------
    def _consumption(self, tf: TrackedFunction) -> TokenConsumption:
        return TokenConsumption(
            component_id=tf.function_info.function_id, component_type="function", component_name=tf.qualified_name,
            total_tokens=tf.total_tokens, total_calls=tf.total_calls,
            avg_tokens_per_call=tf.total_tokens / tf.total_calls if tf.total_calls else 0.0,
            total_cost_usd=tf.total_cost, first_seen=tf.first_seen, last_seen=tf.last_seen)

    def _usage(self, info: FunctionInfo, tc: TokenConsumption) -> ComponentUsage:
        return ComponentUsage(
            function_info=info, token_consumption=tc,
            tokens_per_line=tc.total_tokens / info.line_count if info.line_count else 0.0,
            cost_per_complexity=tc.total_cost_usd / info.complexity if info.complexity else 0.0)

    def optimization_score(self, usage: ComponentUsage) -> float:
        """``optimization_potential`` of a function's usage (formula in the module doc)."""
        used = [tf for tf in self.tracked_functions.values() if tf.total_calls]
        top_tokens = max((tf.total_tokens for tf in used), default=0)
        top_avg = max((tf.total_tokens / tf.total_calls for tf in used), default=0.0)
        tc = usage.token_consumption
        volume = tc.total_tokens / top_tokens if top_tokens else 0.0
        intensity = tc.avg_tokens_per_call / top_avg if top_avg else 0.0
        complexity = min(1.0, usage.function_info.complexity / 10.0)
        return round(0.5 * volume + 0.3 * intensity + 0.2 * complexity, 4)

    def get_top_token_consumers(self, limit: int = 20, component_type: str = "function") -> list[ComponentUsage]:
        """Functions (or modules, ``component_type="module"``) with recorded tokens, most first."""
        if component_type == "function":
            ranked = sorted((tf for tf in self.tracked_functions.values() if tf.total_tokens > 0),
                            key=lambda tf: (-tf.total_tokens, tf.qualified_name))[:limit]
            out = []
            for tf in ranked:
                usage = self._usage(tf.function_info, self._consumption(tf))
                usage.optimization_potential = self.optimization_score(usage)
                out.append(usage)
            return out
        if component_type == "module":
            out = []
            for path, data in sorted(((p, d) for p, d in self.tracked_modules.items() if d["total_tokens"] > 0),
                                     key=lambda pd: (-pd[1]["total_tokens"], pd[0]))[:limit]:
                m = data["module_info"]
                info = FunctionInfo(function_id=m.module_id, name=m.name, qualified_name=path, file_path=m.file_path,
                                    complexity=m.complexity_score, line_count=m.line_count)
                calls = data["total_calls"]
                tc = TokenConsumption(component_id=m.module_id, component_type="module", component_name=path,
                                      total_tokens=data["total_tokens"], total_calls=calls,
                                      avg_tokens_per_call=data["total_tokens"] / calls if calls else 0.0,
                                      total_cost_usd=data["total_cost"])
                out.append(self._usage(info, tc))
            return out
        raise ValueError(f"component_type must be 'function' or 'module', not {component_type!r}")

    def find_optimization_candidates(self, min_tokens: int = 1000, min_calls: int = 5,
                                     min_score: float = 0.5) -> list[ComponentUsage]:
        """Functions with at least ``min_tokens`` tokens over ``min_calls`` calls whose
        ``optimization_potential`` exceeds ``min_score``, best first."""
        out = []
        for tf in self.tracked_functions.values():
            if tf.total_tokens < min_tokens or tf.total_calls < min_calls:
                continue
            usage = self._usage(tf.function_info, self._consumption(tf))
            usage.optimization_potential = self.optimization_score(usage)
            if usage.optimization_potential > min_score:
                out.append(usage)
        out.sort(key=lambda u: (-u.optimization_potential, u.function_info.qualified_name))
        return out

    def analyze_hotspots(self, top_n: int = 20, *, complexity_threshold: float = 10.0, token_threshold: int = 5000,
                         min_tokens: int = 1000, min_calls: int = 5, assumed_reduction: float = 0.2) -> HotspotAnalysis:
        """Top consumers, complex-and-costly functions (complexity above ``complexity_threshold``
        and tokens above ``token_threshold``), candidates (see :meth:`find_optimization_candidates`)
        and recommendations.

        ``potential_savings``: percent of all attributed tokens saved if the 10 best candidates
        used ``assumed_reduction`` (20 %) fewer tokens; an assumption, stated as one.
        """
        analysis = HotspotAnalysis(
            top_functions_by_tokens=self.get_top_token_consumers(top_n, "function"),
            top_modules_by_tokens=[u.function_info.qualified_name
                                   for u in self.get_top_token_consumers(top_n, "module")],
            optimization_candidates=self.find_optimization_candidates(min_tokens, min_calls),
            total_tokens_analyzed=sum(tf.total_tokens for tf in self.tracked_functions.values()))
        analysis.high_complexity_high_tokens = [
            u.function_info.qualified_name for u in analysis.top_functions_by_tokens
            if u.function_info.complexity > complexity_threshold
            and u.token_consumption.total_tokens > token_threshold]
        if analysis.optimization_candidates and analysis.total_tokens_analyzed:
            saved = sum(c.token_consumption.total_tokens * assumed_reduction
                        for c in analysis.optimization_candidates[:10])
            analysis.potential_savings = round(100.0 * saved / analysis.total_tokens_analyzed, 2)
        analysis.recommendations = self._recommendations(analysis)
        return analysis

    def _recommendations(self, a: HotspotAnalysis) -> list[str]:
        recs: list[str] = []
        total = a.total_tokens_analyzed
        if a.top_functions_by_tokens and total:
            top = a.top_functions_by_tokens[0]
            share = 100.0 * top.token_consumption.total_tokens / total
            if share >= 50:
                recs.append(f"{top.function_info.qualified_name} uses {share:.0f}% of all tokens: "
                            "start there (shorter prompts, caching, a smaller model).")
        for c in a.optimization_candidates[:5]:
            tc = c.token_consumption
            recs.append(f"{c.function_info.qualified_name}: {tc.total_tokens} tokens over {tc.total_calls} calls "
                        f"({tc.avg_tokens_per_call:.0f} per call, score {c.optimization_potential:.2f}); "
                        "trim its prompt or cache its results.")
        for name in a.high_complexity_high_tokens:
            recs.append(f"{name} is complex and token-heavy: split it so each LLM call gets only the context it needs.")
        missed = sum(self.unmatched.values()) + sum(self.ambiguous.values())
        if missed:
            recs.append(f"{missed} events matched no single scanned function: set custom_attributes"
                        "['function_name'] to the function's qualified name.")
        return recs

    def get_function_report(self, qualified_name: str) -> dict[str, Any] | None:
        """Code facts and recorded figures of one function (a qualified name or unique suffix)."""
        q = self.resolve(qualified_name)
        if q is None:
            return None
        tf = self.tracked_functions[q]
        f = tf.function_info
        usage = self._usage(f, self._consumption(tf))
        return {
            "name": f.name, "qualified_name": f.qualified_name, "file_path": f.file_path,
            "line_range": f"{f.line_start}-{f.line_end}", "complexity": f.complexity, "line_count": f.line_count,
            "is_async": f.is_async, "decorators": list(f.decorators), "total_tokens": tf.total_tokens,
            "total_calls": tf.total_calls, "avg_tokens_per_call": usage.token_consumption.avg_tokens_per_call,
            "total_cost_usd": tf.total_cost, "tokens_per_line": usage.tokens_per_line,
            "cost_per_complexity": usage.cost_per_complexity,
            "optimization_potential": self.optimization_score(usage) if tf.total_calls else 0.0,
            "first_seen": tf.first_seen.isoformat() if tf.first_seen else None,
            "last_seen": tf.last_seen.isoformat() if tf.last_seen else None,
            "calls_made": list(f.calls), "parent_class": f.parent_class,
        }

    def export_correlation_data(self) -> dict[str, Any]:
        """Everything tracked, JSON-ready."""
        return {
            "topology_summary": {
                "total_modules": len(self.tracked_modules), "total_functions": len(self.tracked_functions),
                "snapshot_id": str(self.topology.topology_id) if self.topology else None},
            "functions": [jsonable(self._consumption(tf)) for tf in sorted(
                self.tracked_functions.values(), key=lambda tf: (-tf.total_tokens, tf.qualified_name))
                if tf.total_calls],
            "modules": [{"module_path": p, "total_tokens": d["total_tokens"], "total_calls": d["total_calls"],
                         "total_cost_usd": d["total_cost"]}
                        for p, d in sorted(self.tracked_modules.items()) if d["total_calls"]],
            "unmatched": dict(self.unmatched), "ambiguous": dict(self.ambiguous),
        }
