"""Seed ``llmops_monitoring.transport``: the writer and the storage backend base class."""

from __future__ import annotations

from llamonitor.backends.base import StorageBackend
from llamonitor.runtime import initialize_monitoring
from llamonitor.transport.worker import MonitoringWriter

#: a package: the seed's ``transport.writer`` / ``transport.backends`` resolve through the alias
__path__: list[str] = []

__all__ = ["MonitoringWriter", "StorageBackend", "initialize_monitoring"]
