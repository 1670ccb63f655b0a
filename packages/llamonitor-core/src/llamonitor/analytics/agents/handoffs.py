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
from itertools import accumulate
from operator import attrgetter
from typing import Any

from llamonitor.analytics.agents.index import index_for
from llamonitor.analytics.agents.links import links_of
from llamonitor.analytics.agents.models import AgentOperation, Handoff, HandoffQuality, gc_paused
from llamonitor.schema.events import MetricEvent

CORRECTNESS_WEIGHT = 0.4
EFFICIENCY_WEIGHT = 0.3
SUCCESS_CHAIN_WEIGHT = 0.3

_start = attrgetter("start_ns")
_is_entry = attrgetter("is_entry")
_success = attrgetter("success")


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
        idx = index_for(operations)
        # per trace: start times of its invocations (sorted) and, from each position on, how many
        # of them succeeded (suffix sums)
        chains: dict[str, tuple[list[int], list[int]]] = {}
        for t, trace_ops in idx.traces.items():
            ops = list(filter(_is_entry, trace_ops))
            if not ops:
                continue
            if len(ops) > 1:
                ops.sort(key=_start)
            suffix = list(accumulate(map(_success, reversed(ops)), initial=0))
            suffix.reverse()
            chains[t] = (list(map(_start, ops)), suffix)
        handoffs: list[Handoff] = []
        append = handoffs.append
        scale = self.efficiency_scale_ms
        bisect_left = bisect.bisect_left
        excellent, good, acceptable, poor, failed = (HandoffQuality.EXCELLENT, HandoffQuality.GOOD,
                                                     HandoffQuality.ACCEPTABLE, HandoffQuality.POOR,
                                                     HandoffQuality.FAILED)
        links = links_of(idx)
        for src, dst, kind, gap_ms in zip(links.sources, links.targets, links.kinds, links.gaps, strict=True):
            dst_start = dst.start_ns
            dst_ok = dst.success
            correctness = 1.0 if dst_ok else 0.0
            efficiency = 1.0 / (1.0 + gap_ms / scale)
            trace_starts, ok_suffix = chains[dst.trace_id]
            i = bisect_left(trace_starts, dst_start)
            chain = (ok_suffix[i] + (1 if src.success else 0)) / (len(trace_starts) - i + 1)
            score = (CORRECTNESS_WEIGHT * correctness + EFFICIENCY_WEIGHT * efficiency
                     + SUCCESS_CHAIN_WEIGHT * chain)
            # HandoffQuality.from_score, inlined
            quality = (excellent if score > 0.9 else good if score >= 0.7 else acceptable if score >= 0.5
                       else poor if score >= 0.3 else failed)
            append(Handoff(src.agent_name, dst.agent_name, kind, dst.trace_id, dst.session_id, src.span_id,
                           dst.span_id, dst_start, gap_ms, correctness, efficiency, chain, score, quality, dst_ok))
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
