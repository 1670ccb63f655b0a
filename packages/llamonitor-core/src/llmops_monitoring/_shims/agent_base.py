"""Seed ``llmops_monitoring.agent`` and ``.agent.base``: :mod:`llamonitor.analytics.agents` plus the
seed's names of its data models (``Agent``, ``AgentHandoff``, ``BottleneckInfo``)."""

from __future__ import annotations

from typing import Any

import llamonitor.analytics.agents as _real
from llamonitor.analytics.agents import *  # noqa: F403
from llamonitor.analytics.agents import AgentProfile, Bottleneck, GraphEdge, GraphNode, Handoff
from llamonitor.analytics.agents import __all__ as _real_all

#: a package: ``agent.detector``, ``agent.service`` ... resolve through the alias
__path__: list[str] = []

#: seed name -> llamonitor class
Agent = AgentProfile
AgentHandoff = Handoff
BottleneckInfo = Bottleneck

__all__ = ["Agent", "AgentHandoff", "BottleneckInfo", "GraphEdge", "GraphNode"]
__all__ += [n for n in _real_all if n not in __all__]


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
