"""Reliability suite: kill, outage, overflow and security tests on real servers and processes.

PostgreSQL (127.0.0.1:5432, db ``test``, user ``postgres``) and MariaDB (127.0.0.1:3306, db
``test``, root) must run; outages are simulated by :class:`tcp_proxy.TcpProxy` on loopback in
front of them, never by mocks. Every test uses its own table / schema and drops it.

The outage tests record one row each through the ``outage_report`` fixture; the rows are printed
as one table at the end of the run (and stored as JUnit properties).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent

#: one row per outage case run in this session, printed as a table at the end of the run
OUTAGE_ROWS: list[dict[str, Any]] = []
OUTAGE_COLUMNS = ("backend", "case", "events", "written", "spilled", "replayed", "lost", "rows (distinct)",
                  "failed attempts", "proxy", "seconds")


@pytest.fixture
def outage_report(record_property: Any) -> Any:
    """``outage_report(row)``: keep one outage case's counts for the summary table (and JUnit XML)."""

    def record(row: dict[str, Any]) -> None:
        OUTAGE_ROWS.append(row)
        for key, value in row.items():
            record_property(key, value)

    return record


def format_outage_table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as a Markdown table (the one in docs/reliability.md)."""
    lines = ["| " + " | ".join(OUTAGE_COLUMNS) + " |", "|" + "|".join(" --- " for _ in OUTAGE_COLUMNS) + "|"]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in OUTAGE_COLUMNS) + " |" for row in rows]
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if OUTAGE_ROWS:
        terminalreporter.write_sep("-", "outages: events written / spilled / replayed / lost per case")
        for line in format_outage_table(OUTAGE_ROWS):
            terminalreporter.write_line(line)
