"""Analytics on recorded events: anomaly detection and multi-agent intelligence.

* :mod:`llamonitor.analytics.anomaly` (seed import ``llmops_monitoring.anomaly``): trained
  baselines per operation and metric, z-score / IQR / error-rate detection, alerts, streaming.
* :mod:`llamonitor.analytics.agents` (seed import ``llmops_monitoring.agent``): agents, handoffs,
  context drift, coordination graph, bottlenecks and coalitions, computed from the agent
  identities the adapters record (name-based inference only as a labelled fallback).

Everything here is pure Python (``statistics`` and ``re``); no numpy or networkx needed.
"""

from __future__ import annotations

__all__: list[str] = []
