"""Seed ``llmops_monitoring.utils`` (a package holding ``logging_config``)."""

from __future__ import annotations

__path__: list[str] = []
