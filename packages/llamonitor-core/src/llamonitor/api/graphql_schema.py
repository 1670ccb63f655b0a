# mypy: disable-error-code="untyped-decorator"
"""GraphQL (Strawberry): summary, operations, models, agents, events, sessions, traces; ``eventStream``.

Field names are camelCase; the seed's ``totalCost_usd`` is kept exactly, next to ``totalCostUsd``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from llamonitor.api.errors import storage_detail, storage_error_types
from llamonitor.api.graphql_limits import limit_extensions
from llamonitor.api.routes import MAX_OFFSET
from llamonitor.query.summary import GroupStats
from llamonitor.query.types import MAX_PAGE, EventFilter, QueryBackend, decode_cursor
from llamonitor.schema.events import MetricEvent

if TYPE_CHECKING:
    from llamonitor.api.app import APIState

logger = logging.getLogger("llamonitor")


@strawberry.type(description="Totals over the stored events")
class SummaryType:
    total_events: int
    errors: int
    error_rate: float
    sessions: int
    traces: int
    total_cost_usd: float
    total_cost_usd_seed: float = strawberry.field(name="totalCost_usd", description="seed name of totalCostUsd")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    p99_duration_ms: float | None
    first_event: datetime | None
    last_event: datetime | None


@strawberry.type(description="Aggregates of one operation / model / agent")
class GroupType:
    key: str
    count: int
    errors: int
    error_rate: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    estimated_cost_usd: float | None
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    p99_duration_ms: float | None
    avg_duration_ms: float | None

    @strawberry.field
    def operation_name(self) -> str:
        """The group key (for ``operations``)."""
        return self.key

    @strawberry.field
    def model(self) -> str:
        """The group key (for ``models``)."""
        return self.key

    @strawberry.field
    def agent_name(self) -> str:
        """The group key (for ``agents``)."""
        return self.key


@strawberry.type
class TextMetricsType:
    char_count: int | None
    word_count: int | None
    byte_size: int | None
    line_count: int | None
    input_tokens: int | None
    output_tokens: int | None


@strawberry.type
class UsageType:
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None


@strawberry.type
class CostType:
    input_cost_usd: float | None
    output_cost_usd: float | None
    total_cost_usd: float | None
    price_source: str | None


@strawberry.type(description="One recorded operation (a span)")
class EventType:
    event_id: str
    session_id: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    operation_name: str
    operation_type: str | None
    timestamp: datetime
    end_time: datetime
    duration_ms: float
    error: bool
    error_type: str | None
    error_message: str | None
    model: str | None = strawberry.field(description="the model the caller asked for")
    response_model: str | None = strawberry.field(
        description="the model the provider says answered (often a dated snapshot of `model`)")
    provider: str | None
    agent_name: str | None
    agent_role: str | None
    text_metrics: TextMetricsType | None
    usage: UsageType | None
    cost: CostType | None


@strawberry.type
class SessionType:
    session_id: str
    events: int
    errors: int
    traces: int
    first_event: datetime
    last_event: datetime
    input_tokens: int
    output_tokens: int
    total_cost_usd: float | None


@strawberry.type
class TraceType:
    session_id: str
    trace_id: str
    events: int
    errors: int
    first_event: datetime
    last_event: datetime
    duration_ms: float
    total_cost_usd: float | None


@strawberry.input(description="Event filters and paging")
class EventFilterInput:
    limit: int = 100
    offset: int = 0
    cursor: str | None = None
    error_only: bool = False
    session_id: str | None = None
    trace_id: str | None = None
    operation_name: str | None = None
    model: str | None = None
    agent_name: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def to_event(e: MetricEvent) -> EventType:
    """A stored event as its GraphQL type."""
    tm, us, co, ag = e.text_metrics, e.usage, e.cost, e.agent
    return EventType(
        event_id=e.event_id, session_id=e.session_id, trace_id=e.trace_id, span_id=e.span_id,
        parent_span_id=e.parent_span_id, operation_name=e.operation_name, operation_type=e.operation_type,
        timestamp=e.start_time, end_time=e.end_time, duration_ms=e.duration_ms, error=e.error,
        error_type=e.error_type, error_message=e.error_message, model=e.model,
        response_model=e.response_model, provider=e.provider,
        agent_name=ag.agent_name if ag else None, agent_role=ag.agent_role if ag else None,
        text_metrics=TextMetricsType(char_count=tm.char_count, word_count=tm.word_count, byte_size=tm.byte_size,
                                     line_count=tm.line_count, input_tokens=tm.input_tokens,
                                     output_tokens=tm.output_tokens) if tm else None,
        usage=UsageType(input_tokens=us.input_tokens, output_tokens=us.output_tokens,
                        total_tokens=us.total_tokens) if us else None,
        cost=CostType(input_cost_usd=co.input_cost_usd, output_cost_usd=co.output_cost_usd,
                      total_cost_usd=co.total_cost_usd, price_source=co.price_source) if co else None)


def to_group(g: GroupStats) -> GroupType:
    """GroupStats as its GraphQL type."""
    lat = g.latency
    return GroupType(key=g.key, count=g.events, errors=g.errors, error_rate=g.error_rate,
                     input_tokens=g.input_tokens, output_tokens=g.output_tokens, total_tokens=g.total_tokens,
                     estimated_cost_usd=g.cost_usd, p50_duration_ms=lat.p50_ms, p95_duration_ms=lat.p95_ms,
                     p99_duration_ms=lat.p99_ms, avg_duration_ms=lat.mean_ms)


def _state(info: Info[Any, Any]) -> APIState:
    state: APIState = info.context["llamonitor"]
    return state


def _backend(info: Info[Any, Any]) -> QueryBackend:
    return _state(info).backend


def bad_input(message: str) -> GraphQLError:
    """A refused argument: ``extensions.code = "BAD_USER_INPUT"`` (the client's fault, not the server's)."""
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def check_paging(prefix: str, limit: int, offset: int) -> None:
    """``limit`` in 1..MAX_PAGE and ``offset`` >= 0, else BAD_USER_INPUT naming the argument."""
    if not 1 <= limit <= MAX_PAGE:
        raise bad_input(f"{prefix}limit must be between 1 and {MAX_PAGE}; got {limit}")
    if offset < 0:
        raise bad_input(f"{prefix}offset must be >= 0; got {offset}")
    if offset > MAX_OFFSET:
        raise bad_input(f"{prefix}offset must be at most {MAX_OFFSET} (page further with filter.cursor); got {offset}")


def check_text(**values: str | None) -> None:
    """No NUL byte in a string argument (no stored value holds one; PostgreSQL refuses it)."""
    for name, value in values.items():
        if value is not None and "\x00" in value:
            raise bad_input(f"{name} contains a NUL byte (U+0000), which no stored value holds")


@strawberry.type
class Query:
    @strawberry.field(description="Totals, error rate, latency percentiles, tokens, cost")
    async def summary(self, info: Info[Any, Any], session_id: str | None = None) -> SummaryType:
        check_text(sessionId=session_id)
        s = await _backend(info).summary(EventFilter(session_id=session_id))
        return SummaryType(total_events=s.total_events, errors=s.errors, error_rate=s.error_rate,
                           sessions=s.sessions, traces=s.traces, total_cost_usd=s.total_cost_usd,
                           total_cost_usd_seed=s.total_cost_usd, input_tokens=s.input_tokens,
                           output_tokens=s.output_tokens, total_tokens=s.total_tokens,
                           p50_duration_ms=s.latency.p50_ms, p95_duration_ms=s.latency.p95_ms,
                           p99_duration_ms=s.latency.p99_ms, first_event=s.first_event, last_event=s.last_event)

    @strawberry.field(description="Aggregates per operation")
    async def operations(self, info: Info[Any, Any], session_id: str | None = None) -> list[GroupType]:
        check_text(sessionId=session_id)
        return [to_group(g) for g in await _backend(info).aggregates("operation", EventFilter(session_id=session_id))]

    @strawberry.field(description="Aggregates per model")
    async def models(self, info: Info[Any, Any], session_id: str | None = None) -> list[GroupType]:
        check_text(sessionId=session_id)
        return [to_group(g) for g in await _backend(info).aggregates("model", EventFilter(session_id=session_id))]

    @strawberry.field(description="Aggregates per recorded agent")
    async def agents(self, info: Info[Any, Any], session_id: str | None = None) -> list[GroupType]:
        check_text(sessionId=session_id)
        return [to_group(g) for g in await _backend(info).aggregates("agent", EventFilter(session_id=session_id))]

    @strawberry.field(description="Events in (start time, event id) order")
    async def events(self, info: Info[Any, Any], filter: EventFilterInput | None = None) -> list[EventType]:
        f = filter or EventFilterInput()
        check_paging("filter.", f.limit, f.offset)
        check_text(**{f"filter.{k}": getattr(f, k) for k in
                      ("session_id", "trace_id", "operation_name", "model", "agent_name", "cursor")})
        for name, value in (("start", f.start), ("end", f.end)):
            if value is not None and not 1970 <= value.year <= 2261:
                raise bad_input(f"filter.{name} must be between 1970 and 2261")
        if f.cursor is not None:
            try:
                decode_cursor(f.cursor)
            except ValueError as exc:
                raise bad_input(f"filter.cursor: {exc}") from exc
        flt = EventFilter(start=f.start, end=f.end, session_id=f.session_id, trace_id=f.trace_id,
                          operation_name=f.operation_name, model=f.model, agent_name=f.agent_name,
                          errors_only=f.error_only)
        page = await _backend(info).events(flt, limit=f.limit, offset=f.offset, cursor=f.cursor)
        return [to_event(e) for e in page.events]

    @strawberry.field(description="Sessions, most recent first")
    async def sessions(self, info: Info[Any, Any], limit: int = 100, offset: int = 0) -> list[SessionType]:
        check_paging("", limit, offset)
        rows = await _backend(info).sessions(None, limit=limit, offset=offset)
        return [SessionType(**{k: getattr(r, k) for k in SessionType.__annotations__}) for r in rows]

    @strawberry.field(description="Traces of a session")
    async def traces(self, info: Info[Any, Any], session_id: str) -> list[TraceType]:
        check_text(sessionId=session_id)
        rows = await _backend(info).traces(session_id)
        return [TraceType(**{k: getattr(r, k) for k in TraceType.__annotations__}) for r in rows]

    @strawberry.field(description="Events (spans) of one trace")
    async def trace_events(self, info: Info[Any, Any], trace_id: str,
                           session_id: str | None = None) -> list[EventType]:
        check_text(traceId=trace_id, sessionId=session_id)
        return [to_event(e) for e in await _backend(info).trace_events(trace_id, session_id=session_id)]


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Events as they are recorded (needs the writer in this process)")
    async def event_stream(self, info: Info[Any, Any], operation_name: str | None = None,
                           session_id: str | None = None) -> AsyncGenerator[EventType, None]:
        hub = _state(info).hub
        sub = hub.subscribe(session_id=session_id, operation_name=operation_name)
        try:
            await hub.ready()  # as the WebSocket route: an idle storage tail primes before the first event
        except BaseException:
            hub.unsubscribe(sub)
            raise
        async for event, _text in hub.stream(sub):
            yield to_event(event)


class StorageErrors(SchemaExtension):
    """A storage failure inside a resolver: ``extensions.code = "STORAGE_UNAVAILABLE"``, message masked."""

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        kinds = storage_error_types()
        state = self.execution_context.context["llamonitor"]
        for i, error in enumerate(result.errors):
            if isinstance(error.original_error, kinds):
                result.errors[i] = GraphQLError(
                    storage_detail(error.original_error, state.config.storage.connection_string),
                    nodes=error.nodes, path=error.path, extensions={"code": "STORAGE_UNAVAILABLE"})


class QuietSchema(strawberry.Schema):
    """Logs refusals and storage failures as one line, not a traceback (they are not server bugs)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # refusals (parse / validation errors have no original error) are the client's: one short line
        expected = [e for e in errors if e.original_error is None
                    or (e.extensions or {}).get("code") in ("BAD_USER_INPUT", "STORAGE_UNAVAILABLE")]
        for error in expected:
            logger.info("llamonitor GraphQL: %s", error.message.splitlines()[0][:200] if error.message else "")
        rest = [e for e in errors if e not in expected]
        if rest:
            super().process_errors(rest, execution_context)


schema = QuietSchema(query=Query, subscription=Subscription, extensions=[*limit_extensions(), StorageErrors])


def graphql_router(state: APIState) -> Any:
    """The ``/graphql`` router (HTTP queries, GraphiQL, subscriptions over graphql-transport-ws)."""
    from strawberry.fastapi import GraphQLRouter

    async def context() -> dict[str, Any]:
        return {"llamonitor": state}

    class LocalGraphiQLRouter(GraphQLRouter[Any, Any]):
        @property
        def graphql_ide_html(self) -> str:
            return page

    page = local_graphiql(GraphQLRouter(schema).graphql_ide_html)
    return LocalGraphiQLRouter(schema, context_getter=context)


#: where ``create_api_server`` mounts ``static/graphiql`` (the vendored GraphiQL build)
GRAPHIQL_ASSETS = "/graphiql-assets"
_CDN_FILES = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom.production.min.js",
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}


def local_graphiql(page: str) -> str:
    """Strawberry's GraphiQL page with its CDN assets served from this package (nothing leaves the machine).

    Raises ``RuntimeError`` when Strawberry's page names an asset not vendored (a Strawberry upgrade
    changed the versions: vendor them as ``static/graphiql/README.md`` says)."""
    for url, name in _CDN_FILES.items():
        page = page.replace(url, f"{GRAPHIQL_ASSETS}/{name}")
    if "https://unpkg.com" in page:
        raise RuntimeError("Strawberry's GraphiQL page loads assets not vendored in llamonitor/api/static/graphiql")
    return page
