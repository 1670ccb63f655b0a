"""Handoff quality scoring.

``quality_score = 0.4 * correctness + 0.3 * efficiency + 0.3 * success_chain`` where

* ``correctness`` = 1 if the target invocation succeeded, else 0;
* ``efficiency`` = ``1 / (1 + gap_ms / efficiency_scale_ms)`` (1.0 for an immediate hand-over,
  0.5 when the hand-over took ``efficiency_scale_ms``, default 1000 ms);
* ``success_chain`` = share of successful invocations among the source and every invocation of
  the same trace that started at or after the target (did the workflow go on to succeed?).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from llamonitor.analytics.agents.links import by_trace, find_handoff_links
from llamonitor.analytics.agents.models import AgentOperation, Handoff, HandoffQuality, gc_paused
from llamonitor.schema.events import MetricEvent

CORRECTNESS_WEIGHT = 0.4
EFFICIENCY_WEIGHT = 0.3
SUCCESS_CHAIN_WEIGHT = 0.3


class HandoffAnalyzer:
    """Finds agent-to-agent handoffs in operations and scores each (see the module doc)."""

    def __init__(self, efficiency_scale_ms: float = 1000.0) -> None:
        if efficiency_scale_ms <= 0:
            raise ValueError("efficiency_scale_ms must be positive")
        self.efficiency_scale_ms = efficiency_scale_ms
        #: handoffs of the last :meth:`analyze_handoffs` call
        self.handoffs: list[Handoff] = []

    @gc_paused
    def analyze_handoffs_sync(self, operations: Sequence[AgentOperation],
                              events: Sequence[MetricEvent] | None = None) -> list[Handoff]:
        """Synchronous :meth:`analyze_handoffs`."""
        entries_by_trace = by_trace(o for o in operations if o.is_entry)
        starts = {t: [o.start_ns for o in ops] for t, ops in entries_by_trace.items()}
        ok_suffix: dict[str, list[int]] = {}
        for t, ops in entries_by_trace.items():
            suffix = [0] * (len(ops) + 1)
            for i in range(len(ops) - 1, -1, -1):
                suffix[i] = suffix[i + 1] + (1 if ops[i].success else 0)
            ok_suffix[t] = suffix
        handoffs: list[Handoff] = []
        scale = self.efficiency_scale_ms
        from_score = HandoffQuality.from_score
        bisect_left = bisect.bisect_left
        for link in find_handoff_links(operations):
            src, dst = link.source, link.target
            dst_ok = dst.success
            correctness = 1.0 if dst_ok else 0.0
            efficiency = 1.0 / (1.0 + link.gap_ms / scale)
            trace_starts = starts[dst.trace_id]
            i = bisect_left(trace_starts, dst.start_ns)
            chain = (ok_suffix[dst.trace_id][i] + (1 if src.success else 0)) / (len(trace_starts) - i + 1)
            score = (CORRECTNESS_WEIGHT * correctness + EFFICIENCY_WEIGHT * efficiency
                     + SUCCESS_CHAIN_WEIGHT * chain)
            handoffs.append(Handoff(
                src.agent_name, dst.agent_name, link.kind, dst.trace_id, dst.session_id, src.span_id, dst.span_id,
                dst.start_ns, link.gap_ms, correctness, efficiency, chain, score, from_score(score), dst_ok))
        self.handoffs = handoffs
        return handoffs

    async def analyze_handoffs(self, operations: Sequence[AgentOperation],
                               events: Sequence[MetricEvent] | None = None) -> list[Handoff]:
        """Every handoff between agent invocations in ``operations``, scored, in time order.

        ``events`` is accepted for the seed API; everything needed is on the operations.
        """
        return self.analyze_handoffs_sync(operations, events)

    def calculate_handoff_statistics(self, handoffs: Sequence[Handoff] | None = None) -> dict[str, Any]:
        """Totals of ``handoffs`` (default: the last analysed): ``total_handoffs``, ``avg_quality_score``,
        ``success_rate``, ``avg_gap_ms``, ``by_quality`` (count per level), ``by_kind`` and ``by_pair``
        (``"a -> b"``: count and average score)."""
        hs = list(self.handoffs if handoffs is None else handoffs)
        n = len(hs)
        pairs: dict[str, list[float]] = defaultdict(list)
        for h in hs:
            pairs[f"{h.from_agent} -> {h.to_agent}"].append(h.quality_score)
        levels = Counter(h.quality.value for h in hs)
        return {
            "total_handoffs": n,
            "avg_quality_score": sum(h.quality_score for h in hs) / n if n else 0.0,
            "success_rate": sum(1 for h in hs if h.target_success) / n if n else 0.0,
            "avg_gap_ms": sum(h.gap_ms for h in hs) / n if n else 0.0,
            "by_quality": {q.value: levels.get(q.value, 0) for q in HandoffQuality},
            "by_kind": dict(Counter(h.kind.value for h in hs)),
            "by_pair": {k: {"count": len(v), "avg_quality_score": sum(v) / len(v)} for k, v in sorted(pairs.items())},
        }

    def get_poor_handoffs(self, threshold: float = 0.5) -> list[Handoff]:
        """Handoffs of the last analysis scoring below ``threshold``, worst first."""
        return sorted((h for h in self.handoffs if h.quality_score < threshold), key=lambda h: h.quality_score)
