"""What guards the server when it is exposed: the bearer token (header, cookie or a first query
token), the Host check against DNS rebinding, and an access log that never shows a secret.

See ``docs/api.md`` (Security). Tests: ``tests/api/test_auth.py``, ``tests/api/test_hardening.py``,
``tests/api/test_serve_cli.py``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the cookie the dashboard receives in exchange for its first ``?token=``
TOKEN_COOKIE = "llamonitor_token"
#: query parameters whose values the access log never shows
SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "apikey", "password"})
#: Host names a loopback server answers by default (DNS rebinding sends another name)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _headers(scope: Scope) -> Iterable[tuple[bytes, bytes]]:
    return scope.get("headers") or []


class BearerAuth:
    """ASGI middleware: every HTTP request and WebSocket needs the token (constant-time compare).

    The token is read from ``Authorization: Bearer <token>``, else the ``llamonitor_token`` cookie,
    else a ``token`` query parameter. A dashboard visit ``/?token=...`` is answered with a redirect
    to ``/`` that sets the cookie (HttpOnly, SameSite=Strict), so the token leaves the address bar
    and the page's later requests carry no secret in their URLs. Refusals: HTTP 401, WebSocket
    close 1008.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _given(self, scope: Scope) -> tuple[bytes, str]:
        """The token the request carries and where it came from (header, cookie, query or "")."""
        cookie = b""
        for name, value in _headers(scope):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return value[7:].strip(), "header"
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except Exception:  # a malformed cookie header is no token
                    continue
                if TOKEN_COOKIE in jar:
                    cookie = jar[TOKEN_COOKIE].value.encode("latin-1")
        if cookie:
            return cookie, "cookie"
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = query.get("token", "")
        return given.encode("latin-1", "replace"), "query" if given else ""

    def allowed(self, scope: Scope) -> bool:
        """Whether the request carries the token."""
        given, _where = self._given(scope)
        return bool(given) and hmac.compare_digest(given, self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given, where = self._given(scope)
        if given and hmac.compare_digest(given, self.token):
            if where == "query" and scope["type"] == "http" and scope.get("path") == "/" \
                    and scope.get("method") == "GET":
                await self._exchange_for_cookie(scope, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": "missing or wrong bearer token"})
            return
        body = json.dumps({"detail": "missing or wrong bearer token"}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _exchange_for_cookie(self, scope: Scope, send: Send) -> None:
        """303 to the same page without ``token``, setting the HttpOnly cookie."""
        rest = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k != "token"]
        location = "/" + ("?" + urlencode(rest) if rest else "")
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{TOKEN_COOKIE}={self.token.decode('latin-1')}; Path=/; HttpOnly; SameSite=Strict{secure}"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
                                (b"cache-control", b"no-store"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


# -- Host check ----------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only reaches this machine."""
    if host.strip("[]") in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(configured: Iterable[str], bound: str | None = None) -> list[str]:
    """The Host names the server answers: the configured ones, else the loopback names plus the
    bound address (``0.0.0.0`` / ``::`` bind every interface: give ``--allowed-host`` then)."""
    hosts = list(configured)
    if hosts:
        return hosts
    hosts = list(LOOPBACK_HOSTS)
    if bound and bound not in ("0.0.0.0", "::", "") and bound not in hosts:
        hosts.append(f"[{bound}]" if ":" in bound else bound)
    return hosts


# -- access log ----------------------------------------------------------------------------------
_SECRET_IN_QUERY = re.compile(r"(?i)([?&](?:" + "|".join(sorted(SECRET_PARAMS)) + r")=)[^&\s\"]*")


def redact_url(text: str) -> str:
    """``/x?token=abc&v=1`` -> ``/x?token=***&v=1`` (every parameter of :data:`SECRET_PARAMS`)."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class RedactSecrets(logging.Filter):
    """A logging filter that masks secret query parameters in a record's message and arguments
    (uvicorn's access log passes the request line as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactSecrets` to uvicorn's access and error loggers (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        log = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in log.filters):
            log.addFilter(RedactSecrets())


class HostCheck:
    """Starlette's ``TrustedHostMiddleware`` (400 for a Host not in ``allowed_hosts``), letting
    through only Starlette's in-process test client, whose Host is always ``testserver`` (its
    WebSockets cannot say another) and whose client address ``testclient`` no socket can have."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") or ("",)
        if client[0] == "testclient" and dict(_headers(scope)).get(b"host") == b"testserver":
            await self.app(scope, receive, send)
            return
        await self.checked(scope, receive, send)
