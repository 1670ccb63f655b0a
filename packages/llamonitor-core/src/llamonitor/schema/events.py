"""The event schema: one span-shaped record per monitored operation.

Events are plain slotted dataclasses rather than pydantic models: they are built in the
background worker at 100k+/s, and validation happens at the edges (config, API, replay).
Field names follow the seed project's Parquet layout (``text_metrics.char_count``,
``custom_attributes``) and map onto the OpenTelemetry GenAI semantic conventions through
:data:`OTEL_ATTRIBUTE_NAMES`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

#: Bumped whenever a field is added, removed or changes type; every backend stores it.
#: 2: ``response_model`` and ``system_instructions`` (existing version-1 tables gain the columns when
#: a writer starts on them).
SCHEMA_VERSION = 2


@dataclass(slots=True)
class TextMetrics:
    """Size of the text that went into and came out of an operation.

    Capacity fields (chars, words, bytes, lines) cover input and output together; the
    ``input_*`` / ``output_*`` split is kept for the character counts so throughput can be
    read per direction. Token fields are filled in token / hybrid / auto mode.
    """

    char_count: int | None = None
    word_count: int | None = None
    byte_size: int | None = None
    line_count: int | None = None
    input_char_count: int | None = None
    output_char_count: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    #: "exact" (tokenizer of the model family), "estimated" (heuristic) or None.
    token_reliability: str | None = None
    tokenizer: str | None = None
    measurement_mode: str | None = None


@dataclass(slots=True)
class ImageMetrics:
    """Images seen in an operation's input or output."""

    image_count: int | None = None
    total_pixels: int | None = None
    file_size_bytes: int | None = None
    formats: str | None = None


@dataclass(slots=True)
class TokenUsage:
    """Billing tokens of one call.

    ``source`` says where the numbers came from: ``"provider"`` (reported by the API: always
    preferred), ``"tokenizer"`` (counted with the model family's tokenizer) or ``"estimate"``.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    source: str | None = None


@dataclass(slots=True)
class CostInfo:
    """Cost of one call in US dollars, with the price entry it came from."""

    input_cost_usd: float | None = None
    output_cost_usd: float | None = None
    total_cost_usd: float | None = None
    currency: str = "USD"
    #: the pricing entry used, e.g. ``"gpt-4o-mini@2025-11-01"``
    price_source: str | None = None
    estimated: bool | None = None


@dataclass(slots=True)
class AgentIdentity:
    """Who did the work, as the framework knows it (never guessed on this record)."""

    framework: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    agent_role: str | None = None
    task: str | None = None
    graph_node: str | None = None
    graph_step: int | None = None
    #: name of the agent that handed work to this one (handoff events)
    handoff_from: str | None = None


@dataclass(slots=True)
class MetricEvent:
    """One monitored operation (a span).

    Times are stored as Unix-epoch nanoseconds (``start_time_ns`` / ``end_time_ns``, as in
    OpenTelemetry) and read as UTC datetimes through ``start_time`` / ``end_time``; building a
    datetime per event would cost the writer more than everything else in the event together.
    ``duration_ms`` is measured with a monotonic clock and is authoritative.
    Use :meth:`MetricEvent.at` to build an event from datetimes.
    """

    event_id: str
    session_id: str
    trace_id: str
    span_id: str
    operation_name: str
    start_time_ns: int
    end_time_ns: int
    duration_ms: float
    parent_span_id: str | None = None
    operation_type: str = "llm_call"
    error: bool = False
    error_type: str | None = None
    error_message: str | None = None
    #: the model the caller asked for (``gen_ai.request.model``)
    model: str | None = None
    #: the model the provider says answered, often a dated snapshot (``gen_ai.response.model``)
    response_model: str | None = None
    provider: str | None = None
    text_metrics: TextMetrics | None = None
    image_metrics: ImageMetrics | None = None
    usage: TokenUsage | None = None
    cost: CostInfo | None = None
    agent: AgentIdentity | None = None
    #: captured prompt / response, only when content capture is enabled (redacted by policy)
    input_content: str | None = None
    output_content: str | None = None
    #: the system prompt / instructions given apart from the user's input (captured and redacted
    #: like the content; exported as ``gen_ai.system_instructions``)
    system_instructions: str | None = None
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # Written by hand (the dataclass keeps it) so the seed's keywords work: ``timestamp`` and
    # optional ids / clocks are filled only when a caller leaves ours out; the writer always
    # passes them, so its cost is that of the generated ``__init__`` plus one test.
    def __init__(self, *, event_id: str | None = None, session_id: str, trace_id: str, span_id: str,
                 operation_name: str, start_time_ns: int | None = None, end_time_ns: int | None = None,
                 duration_ms: float | None = None, parent_span_id: str | None = None,
                 operation_type: str = "llm_call", error: bool | str | None = False, error_type: str | None = None,
                 error_message: str | None = None, model: str | None = None, response_model: str | None = None,
                 provider: str | None = None,
                 text_metrics: TextMetrics | None = None, image_metrics: ImageMetrics | None = None,
                 usage: TokenUsage | None = None, cost: CostInfo | None = None, agent: AgentIdentity | None = None,
                 input_content: str | None = None, output_content: str | None = None,
                 system_instructions: str | None = None, custom_attributes: dict[str, Any] | None = None,
                 schema_version: int = SCHEMA_VERSION,
                 timestamp: datetime | None = None) -> None:
        self.event_id = event_id  # type: ignore[assignment]  # filled below when None
        self.session_id = session_id
        self.trace_id = trace_id
        self.span_id = span_id
        self.operation_name = operation_name
        self.start_time_ns = start_time_ns  # type: ignore[assignment]
        self.end_time_ns = end_time_ns  # type: ignore[assignment]
        self.duration_ms = duration_ms  # type: ignore[assignment]
        self.parent_span_id = parent_span_id
        self.operation_type = operation_type
        self.error = error  # type: ignore[assignment]
        self.error_type = error_type
        self.error_message = error_message
        self.model = model
        self.response_model = response_model
        self.provider = provider
        self.text_metrics = text_metrics
        self.image_metrics = image_metrics
        self.usage = usage
        self.cost = cost
        self.agent = agent
        self.input_content = input_content
        self.output_content = output_content
        self.system_instructions = system_instructions
        self.custom_attributes = {} if custom_attributes is None else custom_attributes
        self.schema_version = schema_version
        if start_time_ns is None or end_time_ns is None or duration_ms is None or event_id is None or timestamp:
            self._fill_seed_fields(timestamp)

    def _fill_seed_fields(self, timestamp: datetime | None) -> None:
        """Defaults of the seed's constructor: a uuid4 id, ``timestamp`` (now) as start, ``error`` text."""
        fields: Any = self  # the fields may still be None here
        if fields.event_id is None:
            self.event_id = str(uuid.uuid4())
        if timestamp is not None:
            self.start_time_ns = datetime_to_ns(timestamp)
        elif fields.start_time_ns is None:
            end = fields.end_time_ns
            self.start_time_ns = time.time_ns() if end is None or fields.duration_ms is None else \
                end - round(fields.duration_ms * 1e6)
        if fields.duration_ms is None:
            end = fields.end_time_ns
            self.duration_ms = 0.0 if end is None else (end - self.start_time_ns) / 1e6
        if fields.end_time_ns is None or timestamp is not None:
            self.end_time_ns = self.start_time_ns + round(self.duration_ms * 1e6)
        if isinstance(fields.error, str):  # the seed's ``error`` held the message
            self.error_message = self.error_message or fields.error
            self.error = True
        elif fields.error is None:
            self.error = False

    @classmethod
    def at(cls, *, start_time: datetime, end_time: datetime, **fields: Any) -> MetricEvent:
        """Build an event from datetimes (naive ones are taken as UTC)."""
        return cls(start_time_ns=datetime_to_ns(start_time), end_time_ns=datetime_to_ns(end_time), **fields)

    @property
    def start_time(self) -> datetime:
        """Start as an aware UTC datetime (microsecond precision)."""
        return ns_to_datetime(self.start_time_ns)

    @property
    def end_time(self) -> datetime:
        """End as an aware UTC datetime (microsecond precision)."""
        return ns_to_datetime(self.end_time_ns)

    @property
    def timestamp(self) -> datetime:
        """Start time (the seed README calls it ``timestamp``)."""
        return self.start_time

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (datetimes as ISO-8601 strings), nested groups as dicts."""
        from llamonitor.schema.serialize import event_to_dict

        return event_to_dict(self)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ns_to_datetime(ns: int) -> datetime:
    """Unix-epoch nanoseconds to an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def datetime_to_ns(value: datetime) -> int:
    """An aware (or naive = UTC) datetime to Unix-epoch nanoseconds, exactly."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


#: Our field -> OpenTelemetry GenAI semantic convention attribute.
OTEL_ATTRIBUTE_NAMES: dict[str, str] = {
    "operation_type": "gen_ai.operation.name",
    "model": "gen_ai.request.model",
    "response_model": "gen_ai.response.model",
    "provider": "gen_ai.system",
    "usage.input_tokens": "gen_ai.usage.input_tokens",
    "usage.output_tokens": "gen_ai.usage.output_tokens",
    "usage.cached_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "usage.cache_creation_input_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "usage.reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
    "agent.agent_name": "gen_ai.agent.name",
    "agent.agent_id": "gen_ai.agent.id",
    "session_id": "session.id",
    "error_type": "error.type",
}
