"""The dashboard's plain GET requests straight to their route function.

FastAPI analyses every parameter's annotation again on each request (``solve_dependencies``):
for a cached summary that was about half of the request's CPU time (cProfile of the ASGI app
called in-process). :class:`FastRoutes` answers the simple, valid requests of the REST routes
itself -- no query string, or only integer parameters written as plain decimals inside the
route's declared bounds (``?limit=100``) -- by calling the same route function with the same
values FastAPI would pass (the declared defaults for the rest). Everything else goes the full
way: any other parameter, a value to convert or check (a time, a string, a bool, a repeated or
unknown name), a route function that raises (its 400 / 404 / 503 are then made by FastAPI's
handlers, as documented), a route that does not return a ``Response`` itself. It sits inside
the security middlewares (Host check, token, input checks), so it sees only what they let through.

Tests: ``tests/api/test_fastpath.py`` (same answers both ways, errors unchanged).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: an integer as the fast path takes it: plain decimal digits, no sign, space or leading zero
_PLAIN_INT = re.compile(rb"(?:0|[1-9][0-9]{0,17})")


@dataclass(frozen=True)
class _Route:
    call: Callable[..., Awaitable[Any]]
    request_param: str
    #: every query parameter's declared default
    defaults: dict[str, Any]
    #: integer query parameters and their declared bounds
    ints: dict[bytes, tuple[str, int, int]]
    #: the path's pattern when it has parameters (``None``: a fixed path)
    pattern: re.Pattern[str] | None

    def kwargs(self, query: bytes) -> dict[str, Any] | None:
        """The route function's parameters for ``query``, or ``None`` when it is not simple."""
        out = dict(self.defaults)
        if not query:
            return out
        seen: set[str] = set()
        for part in query.split(b"&"):
            key, eq, raw = part.partition(b"=")
            found = self.ints.get(key)
            if found is None or not eq or not _PLAIN_INT.fullmatch(raw):
                return None
            name, lo, hi = found
            value = int(raw)
            if name in seen or not lo <= value <= hi:
                return None  # repeated, or out of bounds: FastAPI's 422 says which
            seen.add(name)
            out[name] = value
        return out


def _bounds(field: Any) -> tuple[int, int]:
    lo, hi = -(2**63), 2**63
    for meta in getattr(field.field_info, "metadata", ()):
        if getattr(meta, "ge", None) is not None:
            lo = max(lo, int(meta.ge))
        if getattr(meta, "gt", None) is not None:
            lo = max(lo, int(meta.gt) + 1)
        if getattr(meta, "le", None) is not None:
            hi = min(hi, int(meta.le))
        if getattr(meta, "lt", None) is not None:
            hi = min(hi, int(meta.lt) - 1)
    return lo, hi


def _route(route: Any) -> _Route | None:
    """What the fast path needs of a FastAPI route, or ``None`` when it cannot take it."""
    from fastapi.routing import APIRoute
    from starlette.responses import Response

    if not isinstance(route, APIRoute) or route.methods != {"GET"}:
        return None
    dep = route.dependant
    if dep.dependencies or dep.body_params or dep.header_params or dep.cookie_params or not dep.request_param_name:
        return None
    if any(p.field_info.annotation is not str for p in dep.path_params):
        return None
    try:
        returns = typing.get_type_hints(route.endpoint).get("return")
    except Exception:  # an annotation that does not resolve: not for the fast path
        return None
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None  # FastAPI serialises its answer: only it knows how
    ints: dict[bytes, tuple[str, int, int]] = {}
    defaults: dict[str, Any] = {}
    for field in dep.query_params:
        default = field.field_info.default
        if field.field_info.is_required():
            return None
        defaults[field.name] = default
        if field.field_info.annotation is int:
            lo, hi = _bounds(field)
            ints[field.alias.encode()] = (field.name, lo, hi)
    pattern = route.path_regex if dep.path_params else None
    return _Route(route.endpoint, dep.request_param_name, defaults, ints, pattern)


class FastRoutes:
    """ASGI middleware: simple valid GETs of ``routes`` answered by calling their route function
    (see the module docstring); everything else passed on to the app."""

    def __init__(self, app: ASGIApp, routes: Sequence[Any]) -> None:
        self.app = app
        self.fixed: dict[str, _Route] = {}
        self.patterned: list[_Route] = []
        for route in routes:
            found = _route(route)
            if found is None:
                continue
            if found.pattern is None:
                self.fixed[route.path] = found
            else:
                self.patterned.append(found)
        #: requests answered here (for tests)
        self.served = 0

    def _find(self, path: str) -> tuple[_Route, dict[str, str]] | None:
        route = self.fixed.get(path)
        if route is not None:
            return route, {}
        for route in self.patterned:
            assert route.pattern is not None
            match = route.pattern.match(path)
            if match is not None:
                return route, match.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        found = self._find(scope["path"])
        kwargs = found[0].kwargs(scope.get("query_string", b"")) if found is not None else None
        if found is None or kwargs is None:
            await self.app(scope, receive, send)
            return
        route, path_params = found
        from starlette.requests import Request

        kwargs.update(path_params)
        kwargs[route.request_param] = Request(scope, receive)
        try:
            response = await route.call(**kwargs)
        except Exception:  # the full way answers it (the route runs again): FastAPI's handlers make the error
            await self.app(scope, receive, send)
            return
        self.served += 1
        await response(scope, receive, send)
