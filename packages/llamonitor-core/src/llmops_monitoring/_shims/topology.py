"""Seed ``llmops_monitoring.topology``: the repository scanner is not part of llamonitor.

Importing it raises a clear error instead of a bare ``ModuleNotFoundError``.
"""

raise ImportError(
    "llmops_monitoring.topology (the seed's source-code topology scanner) is not provided by "
    "llamonitor; see docs/seed-compatibility.md")
