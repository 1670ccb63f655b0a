"""REST routes (read-only): events, sessions, traces, metrics, costs, agents, handoffs, graph."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator

from llamonitor.api.render import dumps
from llamonitor.query.types import MAX_PAGE, EventFilter, QueryBackend, collect_events
from llamonitor.schema.events import MetricEvent
from llamonitor.schema.serialize import event_to_dict


class Problem(BaseModel):
    """The body of a 400 or 404: what is wrong, naming the parameter."""

    detail: str


class InvalidParameters(BaseModel):
    """The body of a 422: ``detail`` names each bad parameter; ``errors`` is pydantic's list."""

    detail: str
    errors: list[dict[str, Any]]


#: the error answers each route documents in the OpenAPI schema (what the fuzz run checks against)
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": InvalidParameters, "description": "a parameter has the wrong type or is out of range"}}
BAD = INVALID | {400: {"model": Problem, "description": "parameters that contradict each other or a bad time"}}
NOT_FOUND = INVALID | {404: {"model": Problem, "description": "nothing stored under this id"}}

router = APIRouter()

#: deepest ``offset`` a page may start at (deeper pages: follow ``next_cursor``); bigger is a 422
MAX_OFFSET = 1_000_000_000


def iso_only(value: Any) -> Any:
    """Refuse a bare number for a time: pydantic would read it as Unix seconds; the API takes ISO 8601."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError(f"expected an ISO 8601 date-time such as 2026-01-02T00:00:00Z, not the number {value!r}")
    return value


#: a time parameter: an ISO 8601 date-time (naive = UTC); numbers are refused (422)
Instant = Annotated[datetime, BeforeValidator(iso_only)]
Start = Query(None, description="only events starting at or after this time (ISO 8601; naive = UTC)")
End = Query(None, description="only events starting before this time (ISO 8601; naive = UTC)")


def backend_of(request: Request) -> QueryBackend:
    """The app's query backend."""
    backend: QueryBackend = request.app.state.llamonitor.backend
    return backend


def answer(request: Request, route: str, found: Any, build: Any) -> Response:
    """The JSON response of ``build()`` for the answer ``found`` (encoded once while it is cached;
    see :mod:`llamonitor.api.render`)."""
    response: Response = request.app.state.llamonitor.bodies.response(route, found, build)
    return response


def make_filter(start: datetime | None = None, end: datetime | None = None, session_id: str | None = None,
                trace_id: str | None = None, operation_name: str | None = None, model: str | None = None,
                agent_name: str | None = None, errors_only: bool = False) -> EventFilter:
    """An :class:`EventFilter`; 400 naming ``start``/``end`` when the range is empty."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and not _MIN_TIME <= _utc(value) <= _MAX_TIME:
            raise HTTPException(400, detail=f"parameter '{name}' must be between 1970-01-01 and 2262-04-11")
    if start is not None and end is not None and _utc(end) <= _utc(start):
        raise HTTPException(400, detail="parameter 'end' must be later than 'start'")
    return EventFilter(start=start, end=end, session_id=session_id, trace_id=trace_id,
                       operation_name=operation_name, model=model, agent_name=agent_name, errors_only=errors_only)


_MIN_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_TIME = datetime(2262, 4, 11, tzinfo=timezone.utc)  # nanoseconds since the epoch fit in int64


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def group_to_dict(group: Any) -> dict[str, Any]:
    """A GroupStats as a JSON-ready dict."""
    out: dict[str, Any] = asdict(group)
    return out


@router.get("/api/health", tags=["health"], responses={503: {"description": "the storage does not answer"}})
async def health(request: Request) -> JSONResponse:
    """Whether the storage answers: ``status`` ``ok`` (200), ``degraded`` (slow, 200) or ``down`` (503);
    with the backend name, the masked cause, the live-feed counters and, when it ingests OTLP, the
    receivers' counters. Under ``serve --workers N`` each answer is one worker's (``worker`` is its
    process id): its storage check, its live feed, its ingestion."""
    import os

    from llamonitor.api.errors import storage_status

    state = request.app.state.llamonitor
    status, cause = await storage_status(lambda: state.backend, state.config.storage.connection_string)
    body = {"status": status, "storage": status, "backend": state.config.storage.backend,
            "live": state.hub.stats(), "worker": os.getpid()}
    if state.ingest:
        from llamonitor.ingest.receiver import stats

        body["ingest"] = stats()  # this process's receivers: requests, spans accepted / refused
    if cause is not None:
        body["detail"] = cause
    return JSONResponse(body, status_code=503 if status == "down" else 200)


@router.get("/api/v1/events", tags=["events"], responses=BAD, response_model=dict[str, Any])
async def events(request: Request, start: Instant | None = Start, end: Instant | None = End,
                 session_id: str | None = None, trace_id: str | None = None, operation_name: str | None = None,
                 model: str | None = None, agent_name: str | None = None, errors_only: bool = False,
                 limit: int = Query(100, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                 cursor: str | None = Query(None, description="next_cursor of the previous page")) -> Response:
    """Events ordered by (start time, event id); page with ``cursor`` (or ``offset``)."""
    flt = make_filter(start, end, session_id, trace_id, operation_name, model, agent_name, errors_only)
    if cursor is not None and offset:
        raise HTTPException(400, detail="parameters 'cursor' and 'offset' cannot be combined")
    try:
        page = await backend_of(request).events(flt, limit=limit, offset=offset, cursor=cursor)
    except ValueError as exc:
        raise HTTPException(400, detail=f"parameter 'cursor': {exc}") from exc
    return answer(request, "events", page, lambda: {"events": [event_to_dict(e) for e in page.events],
                                                    "count": len(page.events), "next_cursor": page.next_cursor})


@router.get("/api/v1/sessions", tags=["sessions"], responses=BAD, response_model=dict[str, Any])
async def sessions(request: Request, start: Instant | None = Start, end: Instant | None = End,
                   operation_name: str | None = None, model: str | None = None, agent_name: str | None = None,
                   errors_only: bool = False, limit: int = Query(100, ge=1, le=MAX_PAGE),
                   offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Response:
    """Sessions, most recent first."""
    flt = make_filter(start, end, None, None, operation_name, model, agent_name, errors_only)
    rows = await backend_of(request).sessions(flt, limit=limit, offset=offset)
    return answer(request, "sessions", rows, lambda: {"sessions": [s.to_dict() for s in rows], "count": len(rows)})


@router.get("/api/v1/sessions/{session_id}", tags=["sessions"], responses=NOT_FOUND)
async def session(request: Request, session_id: str = Path(...)) -> dict[str, Any]:
    """One session's totals and its traces; 404 when it has no events."""
    backend = backend_of(request)
    rows = await backend.sessions(EventFilter(session_id=session_id), limit=1)
    if not rows:
        raise HTTPException(404, detail=f"session {session_id!r} not found")
    traces = await backend.traces(session_id, limit=MAX_PAGE)
    return rows[0].to_dict() | {"trace_list": [t.to_dict() for t in traces]}


@router.get("/api/v1/sessions/{session_id}/traces", tags=["sessions"], responses=INVALID,
            response_model=dict[str, Any])
async def session_traces(request: Request, session_id: str = Path(...), limit: int = Query(1000, ge=1, le=MAX_PAGE),
                         offset: int = Query(0, ge=0, le=MAX_OFFSET),
                         include_events: bool = Query(False, description="add every trace's events as spans"),
                         ) -> Response:
    """Traces of a session in order; with ``include_events`` each trace carries its events (span tree)."""
    backend = backend_of(request)
    traces = await backend.traces(session_id, limit=limit, offset=offset)
    out = []
    for t in traces:
        row = t.to_dict()
        if include_events:
            evs = await backend.trace_events(t.trace_id, session_id=session_id)
            row["spans"] = [event_to_dict(e) for e in evs]
        out.append(row)
    # encoded here: FastAPI's response serialiser would walk every row again (a fifth of the mixed load)
    return Response(dumps({"session_id": session_id, "traces": out, "count": len(out)}), media_type="application/json")


@router.get("/api/v1/traces/{trace_id}", tags=["sessions"], responses=NOT_FOUND)
async def trace(request: Request, trace_id: str = Path(...), session_id: str | None = None) -> dict[str, Any]:
    """Every event (span) of a trace, in order; 404 when none."""
    evs = await backend_of(request).trace_events(trace_id, session_id=session_id)
    if not evs:
        raise HTTPException(404, detail=f"trace {trace_id!r} not found")
    return {"trace_id": trace_id, "events": [event_to_dict(e) for e in evs], "count": len(evs)}


@router.get("/api/v1/metrics/summary", tags=["metrics"], responses=BAD, response_model=dict[str, Any])
async def summary(request: Request, start: Instant | None = Start, end: Instant | None = End,
                  session_id: str | None = None, operation_name: str | None = None, model: str | None = None,
                  agent_name: str | None = None) -> Response:
    """Totals, error rate, latency percentiles, tokens, cost, and tables by model / agent / operation."""
    flt = make_filter(start, end, session_id, None, operation_name, model, agent_name)
    found = await backend_of(request).summary(flt)
    return answer(request, "summary", found, found.to_dict)


async def _groups(request: Request, by: Literal["operation", "model", "agent"], flt: EventFilter) -> Response:
    rows = await backend_of(request).aggregates(by, flt)
    return answer(request, by, rows,
                  lambda: {"group_by": by, by + "s": [group_to_dict(g) for g in rows], "count": len(rows)})


@router.get("/api/v1/metrics/operations", tags=["metrics"], responses=BAD, response_model=dict[str, Any])
async def operations(request: Request, start: Instant | None = Start, end: Instant | None = End,
                     session_id: str | None = None, model: str | None = None,
                     agent_name: str | None = None) -> Response:
    """Count, errors, latency percentiles, tokens and cost per operation."""
    return await _groups(request, "operation", make_filter(start, end, session_id, None, None, model, agent_name))


@router.get("/api/v1/metrics/models", tags=["metrics"], responses=BAD, response_model=dict[str, Any])
async def models(request: Request, start: Instant | None = Start, end: Instant | None = End,
                 session_id: str | None = None, operation_name: str | None = None,
                 agent_name: str | None = None) -> Response:
    """Count, errors, latency percentiles, tokens and cost per model."""
    return await _groups(request, "model", make_filter(start, end, session_id, None, operation_name, None, agent_name))


@router.get("/api/v1/metrics/agents", tags=["metrics"], responses=BAD, response_model=dict[str, Any])
async def agents_metrics(request: Request, start: Instant | None = Start, end: Instant | None = End,
                         session_id: str | None = None, operation_name: str | None = None,
                         model: str | None = None) -> Response:
    """Count, errors, latency percentiles, tokens and cost per recorded agent name."""
    return await _groups(request, "agent", make_filter(start, end, session_id, None, operation_name, model))


@router.get("/api/v1/metrics/costs", tags=["metrics"], responses=BAD)
async def costs(request: Request,
                group_by: Literal["model", "operation", "session", "day", "agent"] = Query(
                    "model", description="model | operation | session | day | agent"),
                start: Instant | None = Start, end: Instant | None = End, session_id: str | None = None,
                operation_name: str | None = None, model: str | None = None,
                agent_name: str | None = None) -> dict[str, Any]:
    """Cost and tokens per model, operation, session, agent (highest first) or UTC day (in order)."""
    flt = make_filter(start, end, session_id, None, operation_name, model, agent_name)
    rows = await backend_of(request).costs(group_by, flt)
    total = sum(r.total_cost_usd or 0.0 for r in rows)
    return {"group_by": group_by, "costs": [r.to_dict() for r in rows], "total_cost_usd": total}


@router.get("/api/v1/metrics/timeseries", tags=["metrics"], responses=BAD, response_model=dict[str, Any])
async def timeseries(request: Request, buckets: int = Query(24, ge=1, le=200), start: Instant | None = Start,
                     end: Instant | None = End, session_id: str | None = None) -> Response:
    """Events, errors, p95 latency, tokens and cost in ``buckets`` equal time slices (for charts).

    One :meth:`QueryBackend.timeseries` call (a couple of queries whatever ``buckets`` is).
    """
    flt = make_filter(start, end, session_id)
    series = await backend_of(request).timeseries(flt, buckets=buckets)
    return answer(request, "timeseries", series, lambda: {"buckets": [b.to_dict() for b in series]})


# -- multi-agent analytics -------------------------------------------------------------------
async def load_events(request: Request, flt: EventFilter) -> list[MetricEvent]:
    """Up to ``max_analysis_events`` events matching ``flt`` (cursor pages of 10,000)."""
    cap: int = request.app.state.llamonitor.max_analysis_events
    return await collect_events(backend_of(request), flt, cap=cap)


async def analysis(request: Request, session_id: str | None, start: datetime | None,
                   end: datetime | None) -> Any:
    """Agents, handoffs and graph of the matching events (``run_analysis`` without anomalies)."""
    from llamonitor.analytics.pipeline import run_analysis

    evs = await load_events(request, make_filter(start, end, session_id))
    return await asyncio.to_thread(run_analysis, evs, session_id, anomalies=False)


@router.get("/api/v1/agents", tags=["agents"], responses=BAD)
async def agents(request: Request, session_id: str | None = None, start: Instant | None = Start,
                 end: Instant | None = End) -> dict[str, Any]:
    """Agents (recorded, inherited or inferred identity) with invocations, latency, tokens, cost."""
    report = await analysis(request, session_id, start, end)
    return {"agents": [a.to_dict() for a in report.agents], "events": report.events,
            "bottlenecks": [b.to_dict() for b in report.bottlenecks]}


@router.get("/api/v1/agents/handoffs", tags=["agents"], responses=BAD)
async def handoffs(request: Request, session_id: str | None = None, start: Instant | None = Start,
                   end: Instant | None = End) -> dict[str, Any]:
    """Scored handoffs between agent invocations and their statistics."""
    report = await analysis(request, session_id, start, end)
    return {"handoffs": [h.to_dict() for h in report.handoffs], "statistics": report.handoff_stats}


@router.get("/api/v1/agents/graph", tags=["agents"], responses=BAD)
async def graph(request: Request, session_id: str | None = None, start: Instant | None = Start,
                end: Instant | None = End,
                format: Literal["native", "d3", "cytoscape", "networkx"] = "native") -> dict[str, Any]:
    """The agent coordination graph (nodes = agents, edges = aggregated handoffs)."""
    report = await analysis(request, session_id, start, end)
    if format == "native":
        out: dict[str, Any] = report.graph.to_dict()
        return out
    from llamonitor.analytics.agents import CoordinationGraphBuilder

    exported: dict[str, Any] = CoordinationGraphBuilder().export_for_visualization(report.graph, format=format)
    return exported
