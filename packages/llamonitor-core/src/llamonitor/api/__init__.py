"""Query API and dashboard (seed import: ``llmops_monitoring.api``).

``create_api_server(config)`` returns a FastAPI app with the REST routes (``/api/health``,
``/api/v1/...``), live WebSocket streams (``/api/v1/stream...``), Strawberry GraphQL
(``/graphql``) and the dashboard (``/``); ``run_api_server(config, port=8080)`` serves it with
uvicorn on 127.0.0.1. Needs the ``api`` extra (and ``graphql`` for ``/graphql``). See ``docs/api.md``.
"""

from __future__ import annotations

from llamonitor.api.app import APIState, create_api_server, run_api_server
from llamonitor.api.hub import LiveHub, event_message
from llamonitor.api.security import BearerAuth

__all__ = ["APIState", "BearerAuth", "LiveHub", "create_api_server", "event_message", "run_api_server"]
