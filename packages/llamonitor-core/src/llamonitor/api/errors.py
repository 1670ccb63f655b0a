"""Honest answers: user input the storage cannot take is a JSON 4xx before it reaches the
storage; a storage failure is a JSON 503 naming the masked cause; ``/api/health`` says whether the
storage answers.

Tests: ``tests/api/test_hardening.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from llamonitor.asgi_body import BodyTooLarge, read_body
from llamonitor.backends.dsn import scrub

logger = logging.getLogger("llamonitor")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: how long ``/api/health`` waits for the storage before saying ``degraded``
HEALTH_TIMEOUT_S = 3.0


def _problem(status: int, detail: str) -> tuple[dict[str, Any], bytes]:
    """The ASGI start message and body of a JSON ``{"detail": ...}`` answer."""
    body = json.dumps({"detail": detail}).encode()
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]},
            body)


class RefuseUnstorableInput:
    """ASGI middleware: a NUL byte or invalid UTF-8 in the path or query string is a 422 naming it.

    PostgreSQL cannot hold a NUL in text (it would answer ``invalid byte sequence``) and no stored
    value contains one, so such a filter can only be a mistake or a probe.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def problem(scope: Scope) -> tuple[str, str] | None:
        """``(parameter, what is wrong)`` for the first bad parameter of the path or query, or ``None``."""
        raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
        pairs: list[tuple[bytes, bytes]] = [(b"path", raw_path)]
        for part in scope.get("query_string", b"").split(b"&"):
            name, _, value = part.partition(b"=")
            pairs.append((name, value))
        for name, raw in pairs:
            label = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
            try:
                decoded = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return label, "not valid UTF-8"
            if "\x00" in decoded or "\x00" in label:
                return label, "contains a NUL byte (U+0000), which no stored value holds"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self.problem(scope)
            if problem is not None:
                where, msg = problem
                loc = ["path"] if where == "path" else ["query", where]
                body = json.dumps({"detail": f"parameter '{where}': {msg}",
                                   "errors": [{"loc": loc, "msg": msg, "type": "value_error"}]}).encode()
                await send({"type": "http.response.start", "status": 422,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


#: what :class:`RefuseUnstorableInput` enforces, declared on every string parameter of the OpenAPI schema
NO_NUL_PATTERN = "^[^\\u0000]*$"


def declare_no_nul(app: Any) -> None:
    """Make ``app.openapi()`` say that string parameters cannot hold a NUL (a pattern), as enforced."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        spec: dict[str, Any] = build()
        for ops in spec.get("paths", {}).values():
            for op in ops.values():
                for param in op.get("parameters", []) if isinstance(op, dict) else []:
                    schema = param.get("schema", {})
                    for option in [schema, *schema.get("anyOf", [])]:
                        if option.get("type") == "string" and "format" not in option and "enum" not in option:
                            option.setdefault("pattern", NO_NUL_PATTERN)
        return spec

    app.openapi = openapi


def storage_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the storage failed": OS / connection errors and each installed driver's base error."""
    types: list[type[BaseException]] = [OSError, TimeoutError]
    for module, name in (("asyncpg", "PostgresError"), ("asyncpg", "InterfaceError"),
                         ("pymysql.err", "MySQLError"), ("pyarrow.lib", "ArrowException")):
        try:
            mod = __import__(module, fromlist=[name])
        except ImportError:
            continue
        found = getattr(mod, name, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            types.append(found)
    return tuple(types)


def storage_detail(exc: BaseException, dsn: str | None) -> str:
    """``storage unavailable: <cause>`` with the DSN and its password masked."""
    cause = scrub(f"{type(exc).__name__}: {exc}", dsn)
    return f"storage unavailable: {cause}"[:500]


def install_error_handlers(app: Any, dsn: str | None) -> None:
    """503 JSON for storage failures (logged once per cause, one line, masked); any other unhandled
    error is a JSON 500 (Starlette still logs its traceback: it is a bug to fix)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    seen: set[str] = set()

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        detail = storage_detail(exc, dsn)
        if detail not in seen and len(seen) < 100:
            seen.add(detail)
            logger.warning("llamonitor API: %s (%s %s)", detail, request.method, request.url.path)
        return JSONResponse({"detail": detail}, status_code=503, headers={"retry-after": "5"})

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # a bug, not the client's input nor the storage: JSON like every other answer (the traceback is logged)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    for exc_type in storage_error_types():
        app.add_exception_handler(exc_type, unavailable)
    app.add_exception_handler(Exception, internal)


async def ping(backend: Any) -> None:
    """The cheapest question to the storage (``ping()`` when the backend has it, else one event)."""
    method = getattr(backend, "ping", None)
    if method is not None:
        await method()
    else:
        await backend.events(limit=1)


async def storage_status(backend_of: Callable[[], Any], dsn: str | None) -> tuple[str, str | None]:
    """``("ok", None)``, ``("degraded", why)`` when the storage is slow, ``("down", why)`` when it fails.

    Asks the storage the cheapest question it has (a ``SELECT 1``, a look at the Parquet folder),
    never a summary: health checks poll often, and must answer fast under load.
    """
    try:
        await asyncio.wait_for(ping(backend_of()), HEALTH_TIMEOUT_S)
    except asyncio.TimeoutError:
        return "degraded", f"storage did not answer within {HEALTH_TIMEOUT_S:g} s"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # any failure of the storage is "down", reported masked
        return "down", storage_detail(exc, dsn)
    return "ok", None


#: largest GraphQL request body read (a query within the token limit is far smaller)
MAX_GRAPHQL_BODY = 1_000_000


class CheckGraphQLBody:
    """ASGI middleware: a JSON ``POST /graphql`` whose body is not a UTF-8 JSON object is a 400
    (Strawberry would fail on it with a 500 or a reset connection); one over 1 MB is a 413."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path", "").rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype != b"application/json":
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, MAX_GRAPHQL_BODY)
        except BodyTooLarge:
            await self._refuse(send, 413, f"request body over {MAX_GRAPHQL_BODY} bytes")
            return
        if body is None:
            return
        try:
            parsed = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            await self._refuse(send, 400, "request body is not valid UTF-8")
            return
        except ValueError as exc:
            await self._refuse(send, 400, f"request body is not valid JSON: {exc}")
            return
        if not isinstance(parsed, dict):
            await self._refuse(send, 400, 'request body must be a JSON object such as {"query": "{ summary { '
                                          'totalEvents } }"}, not ' + type(parsed).__name__)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Send, status: int, detail: str) -> None:
        start, body = _problem(status, detail)
        await send(start)
        await send({"type": "http.response.body", "body": body})
