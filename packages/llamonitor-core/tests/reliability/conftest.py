"""Reliability suite: kill, outage, overflow and security tests on real servers and processes.

PostgreSQL (127.0.0.1:5432, db ``test``, user ``postgres``) and MariaDB (127.0.0.1:3306, db
``test``, root) must run; outages are simulated by :class:`tcp_proxy.TcpProxy` on loopback in
front of them, never by mocks. Every test uses its own table / schema and drops it.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "storage"))
