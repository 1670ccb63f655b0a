"""Seed ``llmops_monitoring.agent.base``: the multi-agent data models under their seed names."""

from __future__ import annotations

from typing import Any

import llamonitor.analytics.agents as _real
from llamonitor.analytics.agents import (
    AgentOperation,
    AgentProfile,
    Bottleneck,
    Coalition,
    CoordinationGraph,
    Handoff,
    HandoffQuality,
)

#: seed name -> llamonitor class
Agent = AgentProfile
AgentHandoff = Handoff
BottleneckInfo = Bottleneck

__all__ = ["Agent", "AgentHandoff", "AgentOperation", "BottleneckInfo", "Coalition", "CoordinationGraph",
           "HandoffQuality"]


def __getattr__(name: str) -> Any:
    return getattr(_real, name)
