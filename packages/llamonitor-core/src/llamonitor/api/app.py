"""The FastAPI app: ``create_api_server(config)`` and ``run_api_server(config, port=8080)``."""

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamonitor.api.hub import CLOSE_TOO_MANY, LiveHub, TooManyConnections
from llamonitor.api.render import Bodies
from llamonitor.api.security import BearerAuth
from llamonitor.api.tail import StorageTail
from llamonitor.query.types import QueryBackend
from llamonitor.schema.config import APIConfig, MonitorConfig, WebSocketConfig

logger = logging.getLogger("llamonitor")

STATIC_DIR = Path(__file__).parent / "static"
TOKEN_ENV = "LLAMONITOR_API_TOKEN"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _missing(extra: str, exc: ImportError) -> ImportError:
    return ImportError(f"the llamonitor API needs {exc.name}; install it with: pip install 'llamonitor-core[{extra}]'")


@dataclass
class APIState:
    """What the routes share: config, the query backend (opened lazily), the live hub."""

    config: MonitorConfig
    hub: LiveHub
    max_analysis_events: int
    _backend: QueryBackend | None = None
    #: encoded bodies of recent answers (:mod:`llamonitor.api.render`)
    bodies: Bodies = field(default_factory=Bodies)
    #: whether this process accepts OTLP spans (its counters then show in ``/api/health``)
    ingest: bool = False

    @property
    def backend(self) -> QueryBackend:
        """The query backend of ``config.storage`` (created on first use), its summary-type answers
        cached per storage generation (:mod:`llamonitor.query.cache`)."""
        if self._backend is None:
            from llamonitor.query import create_query_backend
            from llamonitor.query.cache import CachedQueryBackend

            self._backend = CachedQueryBackend(create_query_backend(self.config.storage))
        return self._backend

    async def warm_up(self) -> None:
        """The dashboard's first queries, in the background at start-up, so its first request is
        served warm: the summary (Parquet reads its footers; servers open their pool), the time
        series (Parquet decodes its files into the column cache that sessions and traces use too),
        the first sessions and events pages. Failures are left for the requests to report."""
        try:
            await self.backend.summary()
            await self.backend.timeseries()
            # the dashboard's lists too: the first sessions page builds Parquet's session index
            await self.backend.sessions(limit=50)
            await self.backend.events(limit=100)
        except asyncio.CancelledError:
            raise
        except Exception:  # the storage may be empty, down or misconfigured: a request will say so
            logger.debug("llamonitor: API warm-up summary failed", exc_info=True)

    async def close(self) -> None:
        """Release the backend's connections."""
        if self._backend is not None:
            backend, self._backend = self._backend, None
            await backend.close()


def _no_self_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry hooks off (FastAPI versions that have them): the server does not
    trace its dashboard requests, and they would cost a provider lookup per request."""
    import inspect

    from fastapi import FastAPI

    try:
        accepted = "telemetry" in inspect.signature(FastAPI.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - an unusual class
        accepted = False
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}} if accepted else {}


def resolve_token(token: str | None, api: APIConfig) -> str | None:
    """Argument, then ``extensions["api"]["token"]``, then ``LLAMONITOR_API_TOKEN``; empty means none."""
    return token or api.token or os.environ.get(TOKEN_ENV) or None


def create_api_server(config: MonitorConfig | None = None, *, token: str | None = None,
                      cors_origins: Sequence[str] | None = None, graphql: bool = True,
                      dashboard: bool = True, allowed_hosts: Sequence[str] | None = None,
                      bound_host: str | None = None, ingest: bool = False, ingest_grpc_port: int | None = None,
                      ingest_grpc_host: str = "127.0.0.1") -> Any:
    """The FastAPI app serving REST, WebSocket streams, GraphQL and the dashboard over ``config.storage``.

    ``token`` (else ``config.extensions["api"]["token"]``, else ``LLAMONITOR_API_TOKEN``) guards
    every route when set. ``cors_origins`` turns CORS on for those origins (off by default).
    ``allowed_hosts`` (else ``extensions["api"]["allowed_hosts"]``, else the loopback names plus
    ``bound_host``) are the Host headers answered; others get a 400 (DNS rebinding).
    Live streams receive what a writer running in this process records.
    ``ingest`` adds the OTLP receiver (``POST /v1/traces``; OTLP/gRPC on ``ingest_grpc_port``),
    see :mod:`llamonitor.ingest`.
    """
    try:
        from fastapi import Request, WebSocket, WebSocketDisconnect
        from fastapi.exceptions import RequestValidationError
        from fastapi.responses import HTMLResponse, JSONResponse
        from fastapi.staticfiles import StaticFiles
        from fastapi_offline import FastAPIOffline
    except ImportError as exc:  # pragma: no cover - extra missing
        raise _missing("api", exc) from exc
    from llamonitor.api.routes import router

    if config is None:
        config = MonitorConfig.from_env()
    api = APIConfig.model_validate(config.extensions.get("api") or {})
    ws = WebSocketConfig.model_validate(config.extensions.get("websocket") or {})
    hub = LiveHub(max_connections=ws.max_connections, queue_size=ws.queue_size_per_client, enabled=ws.enabled)
    state = APIState(config, hub, api.max_analysis_events, ingest=ingest)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        hub.bind_loop(asyncio.get_running_loop())
        # live hook: in-process writer if any, else tail storage (llamonitor.api.tail)
        hub.start_tail(StorageTail(config.storage, lambda: state.backend, hub.dispatch))
        warm = asyncio.create_task(state.warm_up())
        try:
            yield
        finally:
            warm.cancel()
            await hub.stop_tail()
            hub.detach()
            await state.close()

    # /docs and /redoc from assets shipped in the fastapi-offline wheel: no CDN, nothing leaves the machine
    app = FastAPIOffline(title="llamonitor", version="1", lifespan=lifespan,
                         description="Read-only query API over llamonitor's stored events, live streams and GraphQL.",
                         **_no_self_telemetry())
    app.state.llamonitor = state

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = []
        for err in errors:
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
            parts.append(f"parameter '{'.'.join(loc)}': {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts), "errors": json.loads(json.dumps(errors, default=str))},
                            status_code=422)

    app.include_router(router)

    async def stream(websocket: WebSocket, session_id: str | None = None, operation_name: str | None = None) -> None:
        if not hub.enabled:
            await websocket.accept()
            await websocket.close(code=1008, reason="the live feed is disabled (extensions['websocket'])")
            return
        try:  # subscribe before accepting: once connected, the client misses nothing
            sub = hub.subscribe(session_id=session_id, operation_name=operation_name)
        except TooManyConnections as exc:
            await websocket.accept()
            await websocket.close(code=CLOSE_TOO_MANY, reason=str(exc))
            return
        try:
            await hub.ready()  # an idle storage tail primes first: the client misses nothing stored from now on
            await websocket.accept()
        except BaseException:
            hub.unsubscribe(sub)
            raise

        async def watch() -> None:  # ends when the client goes away
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await websocket.receive_text()

        watcher = asyncio.create_task(watch())
        watcher.add_done_callback(lambda _task: hub.end(sub))
        try:
            async for text in hub.messages(sub):  # live hook: events, or a coalesced batch
                if watcher.done():
                    break
                await websocket.send_text(text)
            if not watcher.done():
                await websocket.close(code=1013, reason="client too slow: live backlog overflowed")
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            hub.unsubscribe(sub)
            watcher.cancel()

    @app.websocket("/api/v1/stream")
    async def stream_all(websocket: WebSocket) -> None:
        """Every event, live: ``{"type": "event", "data": {...}}`` per message."""
        await stream(websocket)

    @app.websocket("/api/v1/stream/sessions/{session_id}")
    async def stream_session(websocket: WebSocket, session_id: str) -> None:
        """Events of one session, live."""
        await stream(websocket, session_id=session_id)

    @app.websocket("/api/v1/stream/operations/{operation_name}")
    async def stream_operation(websocket: WebSocket, operation_name: str) -> None:
        """Events of one operation, live."""
        await stream(websocket, operation_name=operation_name)

    if graphql:
        try:
            from llamonitor.api.graphql_schema import graphql_router
        except ImportError as exc:  # pragma: no cover - extra missing
            raise _missing("graphql", exc) from exc

        app.include_router(graphql_router(state), prefix="/graphql")
        from llamonitor.api.graphql_schema import GRAPHIQL_ASSETS

        app.mount(GRAPHIQL_ASSETS, StaticFiles(directory=STATIC_DIR / "graphiql"), name="graphiql")

    if dashboard:
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

        page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

        @app.get("/", include_in_schema=False)
        async def index() -> HTMLResponse:
            """The dashboard (a ``?token=`` was exchanged for a cookie by :class:`BearerAuth`)."""
            return HTMLResponse(page)

    def ingest_hook(secret: str | None) -> None:
        # --- OTLP ingestion hook (llamonitor.ingest): added before the auth, so the token guards it ---
        if ingest:
            from llamonitor.ingest.receiver import OtlpIngest

            # the writer ingestion starts feeds the live hub directly (hub.attach): the storage tail
            # then skips what this process stores
            app.add_middleware(OtlpIngest, config=config, grpc_port=ingest_grpc_port, grpc_host=ingest_grpc_host,
                               token=secret, on_writer=hub.attach)
        # --- end of the OTLP ingestion hook ---

    protect(app, api, token=token, cors_origins=cors_origins, allowed_hosts=allowed_hosts, bound_host=bound_host,
            before_auth=ingest_hook)
    return app


def protect(app: Any, api: APIConfig, *, token: str | None, cors_origins: Sequence[str] | None,
            allowed_hosts: Sequence[str] | None, bound_host: str | None,
            before_auth: Callable[[str | None], None] | None = None) -> None:
    """The middleware stack, outermost first: Host check, CORS (preflights answered before auth),
    bearer token, then input checks, then the REST routes' fast path (``api/fastpath.py``); JSON
    503s for storage failures (see ``api/security.py``, ``api/errors.py``)."""
    from llamonitor.api.errors import CheckGraphQLBody, RefuseUnstorableInput, declare_no_nul, install_error_handlers
    from llamonitor.api.fastpath import FastRoutes
    from llamonitor.api.routes import router
    from llamonitor.api.security import HostCheck
    from llamonitor.api.security import allowed_hosts as hosts_for

    install_error_handlers(app, app.state.llamonitor.config.storage.connection_string)
    declare_no_nul(app)
    app.add_middleware(FastRoutes, routes=router.routes)  # innermost: after every check below
    app.add_middleware(CheckGraphQLBody)
    app.add_middleware(RefuseUnstorableInput)
    secret = resolve_token(token, api)
    if before_auth is not None:
        before_auth(secret)
    if secret:
        app.add_middleware(BearerAuth, token=secret)
    origins = list(cors_origins) if cors_origins is not None else list(api.cors_origins)
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"], allow_credentials=True)
    hosts = hosts_for(allowed_hosts if allowed_hosts is not None else api.allowed_hosts, bound_host or api.host)
    app.add_middleware(HostCheck, allowed_hosts=hosts)


@dataclass(frozen=True)
class WorkerApp:
    """A picklable :func:`create_api_server` call, made once in each worker process of
    ``run_api_server(workers=N)`` (uvicorn starts workers with ``spawn``: the app itself cannot be
    sent to them, its arguments can). The token travels in the pickle over the worker's pipe, never
    in the environment or on a command line."""

    config: MonitorConfig
    options: dict[str, Any] = field(repr=False)  # holds the token: never in a log line
    #: the worker serves and nothing else: tune its garbage collector once the app is built
    own_process: bool = False

    def __call__(self) -> Any:
        from llamonitor.api.server import prepare_process, tune_gc

        prepare_process()
        app = create_api_server(self.config, **self.options)
        if self.own_process:
            tune_gc()
        return app


def run_api_server(config: MonitorConfig | None = None, host: str | None = None, port: int | None = None, *,
                   token: str | None = None, cors_origins: Sequence[str] | None = None,
                   log_level: str = "info", allowed_hosts: Sequence[str] | None = None,
                   on_bound: Callable[[str, int], None] | None = None, workers: int = 1,
                   own_process: bool = False, **ingest_options: Any) -> None:
    """Serve :func:`create_api_server` with uvicorn (blocking) on ``host`` (default 127.0.0.1) and ``port`` (8080).

    The port is bound before anything is printed (``on_bound(host, port)`` then runs); a bind failure
    raises :class:`llamonitor.api.server.BindError`. Query-string secrets never reach the access log.
    ``ingest_options`` (``ingest``, ``ingest_grpc_port``, ``ingest_grpc_host``) go to :func:`create_api_server`.
    ``workers`` > 1 runs that many worker processes on the one socket, each with its own caches,
    storage tail and live hub (:func:`llamonitor.api.server.serve`). With ingestion on, each worker
    ingests into its own writer (its own queue and files or connections: nothing is shared but the
    storage), the HTTP receiver on the shared socket and the OTLP/gRPC one on the same port in every
    worker (gRPC binds with ``SO_REUSEPORT``; the kernel spreads connections over them); a worker's
    live clients see the other workers' spans through its storage tail. ``own_process``: this
    process (and each worker) serves and nothing else, as under ``llamonitor serve``: its garbage
    collector is tuned for ingestion (:func:`llamonitor.api.server.tune_gc`); leave it off when
    the server runs inside an application.
    """
    try:
        from llamonitor.api.server import serve
    except ImportError as exc:  # pragma: no cover - extra missing
        raise _missing("api", exc) from exc
    if config is None:
        config = MonitorConfig.from_env()
    api = APIConfig.model_validate(config.extensions.get("api") or {})
    bound = host or api.host
    options: dict[str, Any] = dict(token=token, cors_origins=cors_origins, allowed_hosts=allowed_hosts,
                                   bound_host=bound, **ingest_options)
    app: Any = WorkerApp(config, options, own_process) if workers > 1 else create_api_server(config, **options)
    serve(app, bound, api.port if port is None else port, token=resolve_token(token, api), log_level=log_level,
          on_bound=on_bound, workers=workers, own_process=own_process)
