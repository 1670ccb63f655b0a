"""Span attributes -> event fields, one table per field (first key present wins).

Three attribute families are read: the OpenTelemetry GenAI semantic conventions (constants from
``opentelemetry-semantic-conventions`` when installed), OpenInference (``llm.*``,
``openinference.span.kind``, ``agent.name``, ``graph.node.*``, ``session.id``) and OpenLLMetry
(``traceloop.*``, ``llm.*``, the older ``gen_ai.usage.prompt_tokens``...).

A span is *GenAI* when it carries one of :data:`MARKERS`; other spans (plain HTTP, database...)
are skipped and counted, never stored: llamonitor stores LLM work, and the writer's guarantees
(one event per operation) would otherwise be spent on infrastructure spans.

:func:`map_spans` turns spans into the writer's record tuples
(:mod:`llamonitor.transport.records`) with the spans' own ids and times, so traces stay linked
and the writer prices usage from its price table like any other event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import Any

from llamonitor.ingest.decode import OtlpSpan
from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.transport.records import OperationSpec

try:  # the constants, when the semconv package is installed (llamonitor[ingest])
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _g

    GEN_AI_OPERATION_NAME: str = _g.GEN_AI_OPERATION_NAME
    GEN_AI_PROVIDER_NAME: str = _g.GEN_AI_PROVIDER_NAME
    GEN_AI_SYSTEM: str = _g.GEN_AI_SYSTEM
    GEN_AI_REQUEST_MODEL: str = _g.GEN_AI_REQUEST_MODEL
    GEN_AI_RESPONSE_MODEL: str = _g.GEN_AI_RESPONSE_MODEL
    GEN_AI_USAGE_INPUT_TOKENS: str = _g.GEN_AI_USAGE_INPUT_TOKENS
    GEN_AI_USAGE_OUTPUT_TOKENS: str = _g.GEN_AI_USAGE_OUTPUT_TOKENS
    GEN_AI_USAGE_PROMPT_TOKENS: str = _g.GEN_AI_USAGE_PROMPT_TOKENS
    GEN_AI_USAGE_COMPLETION_TOKENS: str = _g.GEN_AI_USAGE_COMPLETION_TOKENS
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: str = _g.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: str = _g.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: str = _g.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
    GEN_AI_AGENT_NAME: str = _g.GEN_AI_AGENT_NAME
    GEN_AI_AGENT_ID: str = _g.GEN_AI_AGENT_ID
    GEN_AI_CONVERSATION_ID: str = _g.GEN_AI_CONVERSATION_ID
    GEN_AI_TOOL_NAME: str = _g.GEN_AI_TOOL_NAME
    GEN_AI_INPUT_MESSAGES: str = _g.GEN_AI_INPUT_MESSAGES
    GEN_AI_OUTPUT_MESSAGES: str = _g.GEN_AI_OUTPUT_MESSAGES
    GEN_AI_SYSTEM_INSTRUCTIONS: str = _g.GEN_AI_SYSTEM_INSTRUCTIONS
except ImportError:  # pragma: no cover - same strings, from the specification
    GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
    GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
    GEN_AI_SYSTEM = "gen_ai.system"
    GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
    GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
    GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
    GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
    GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
    GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
    GEN_AI_AGENT_NAME = "gen_ai.agent.name"
    GEN_AI_AGENT_ID = "gen_ai.agent.id"
    GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
    GEN_AI_TOOL_NAME = "gen_ai.tool.name"
    GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
    GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
    GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"

OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
OPENINFERENCE_MODEL = "llm.model_name"
OPENINFERENCE_PARAMETERS = "llm.invocation_parameters"
TRACELOOP_SPAN_KIND = "traceloop.span.kind"

# -- the tables ----------------------------------------------------------------------------------

#: any of these marks a span as GenAI work (stored); spans without one are skipped
MARKERS = (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_SYSTEM, GEN_AI_REQUEST_MODEL,
           GEN_AI_AGENT_NAME, OPENINFERENCE_SPAN_KIND, TRACELOOP_SPAN_KIND, "llm.request.type",
           "llm.model_name", "llm.system")
#: the model asked for; OpenInference's one ``llm.model_name`` stands for it, and a span naming only
#: the answering model falls back to that
MODEL = (GEN_AI_REQUEST_MODEL, "llm.request.model", "llm.model_name", GEN_AI_RESPONSE_MODEL, "llm.response.model")
#: the model that answered (priced by it when the price table knows it)
RESPONSE_MODEL = (GEN_AI_RESPONSE_MODEL, "llm.response.model")
PROVIDER = (GEN_AI_PROVIDER_NAME, GEN_AI_SYSTEM, "llm.provider", "llm.system")
INPUT_TOKENS = (GEN_AI_USAGE_INPUT_TOKENS, GEN_AI_USAGE_PROMPT_TOKENS, "llm.token_count.prompt",
                "llm.usage.prompt_tokens")
OUTPUT_TOKENS = (GEN_AI_USAGE_OUTPUT_TOKENS, GEN_AI_USAGE_COMPLETION_TOKENS, "llm.token_count.completion",
                 "llm.usage.completion_tokens")
TOTAL_TOKENS = ("llm.usage.total_tokens", "llm.token_count.total")
CACHED_INPUT_TOKENS = (GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "gen_ai.usage.cache_read_input_tokens",
                       "llm.token_count.prompt_details.cache_read", "llm.usage.cache_read_input_tokens")
CACHE_CREATION_TOKENS = (GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, "gen_ai.usage.cache_creation_input_tokens",
                         "llm.token_count.prompt_details.cache_write")
REASONING_TOKENS = (GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, "llm.token_count.completion_details.reasoning",
                    "llm.usage.reasoning_tokens")
AGENT_NAME = (GEN_AI_AGENT_NAME, "agent.name", "agent_name")
AGENT_ID = (GEN_AI_AGENT_ID, "agent.id")
SESSION = ("session.id", GEN_AI_CONVERSATION_ID, "traceloop.association.properties.session_id")
GRAPH_NODE = ("graph.node.name", "graph.node.id", "langgraph.node")
TOOL_NAME = (GEN_AI_TOOL_NAME, "tool.name")
INPUT_CONTENT = ("input.value", GEN_AI_INPUT_MESSAGES)
OUTPUT_CONTENT = ("output.value", GEN_AI_OUTPUT_MESSAGES)
#: attribute prefixes that carry prompt / completion text: never copied into custom attributes
CONTENT_PREFIXES = ("gen_ai.prompt", "gen_ai.completion", "gen_ai.input.", "gen_ai.output.",
                    "gen_ai.system_instructions", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
                    "gen_ai.tool.definitions", "llm.input_messages", "llm.output_messages", "llm.prompts",
                    "llm.prompt_template", "llm.tools", "llm.invocation_parameters", "input.", "output.",
                    "traceloop.entity.input", "traceloop.entity.output", "tool.parameters",
                    "all_messages_events", "events", "final_result", "tool_arguments", "tool_response",
                    "model_request_parameters", "pydantic_ai.all_messages", "logfire.json_schema")
#: operation type from ``gen_ai.operation.name`` (well-known values of the convention)
GEN_AI_OPERATION_TYPES = {"chat": "chat", "text_completion": "llm_call", "generate_content": "chat",
                          "embeddings": "embedding", "execute_tool": "tool", "invoke_agent": "agent",
                          "create_agent": "agent", "invoke_workflow": "workflow"}
#: ... from ``openinference.span.kind``
OPENINFERENCE_TYPES = {"LLM": "chat", "EMBEDDING": "embedding", "TOOL": "tool", "AGENT": "agent",
                       "CHAIN": "workflow", "RETRIEVER": "retrieval", "RERANKER": "retrieval",
                       "GUARDRAIL": "guardrail", "EVALUATOR": "evaluation"}
#: ... from ``traceloop.span.kind`` and ``llm.request.type`` (OpenLLMetry)
TRACELOOP_TYPES = {"workflow": "workflow", "task": "task", "agent": "agent", "tool": "tool",
                   "chat": "chat", "completion": "llm_call", "embedding": "embedding", "rerank": "retrieval"}
#: ``service.name`` of the resource and the scope become these custom attributes
MAX_CUSTOM_ATTRIBUTES = 64


# -- one pass over a span's attributes ------------------------------------------------------------

#: the slots :func:`scan` fills, each from its table (the first key of the table present wins)
SLOTS: tuple[tuple[str, ...], ...] = (
    MODEL, RESPONSE_MODEL, PROVIDER, INPUT_TOKENS, OUTPUT_TOKENS, TOTAL_TOKENS, CACHED_INPUT_TOKENS,
    CACHE_CREATION_TOKENS, REASONING_TOKENS, AGENT_NAME, AGENT_ID, SESSION[:1], SESSION[1:], GRAPH_NODE, TOOL_NAME,
    INPUT_CONTENT, OUTPUT_CONTENT, (GEN_AI_SYSTEM_INSTRUCTIONS,))
(S_MODEL, S_RESPONSE_MODEL, S_PROVIDER, S_INPUT, S_OUTPUT, S_TOTAL, S_CACHED, S_CACHE_CREATION, S_REASONING,
 S_AGENT_NAME, S_AGENT_ID, S_SESSION, S_OWN_SESSION, S_GRAPH_NODE, S_TOOL, S_INPUT_CONTENT, S_OUTPUT_CONTENT,
 S_SYSTEM) = range(len(SLOTS))
_NO_RANK = 1 << 30
#: attribute name -> the (slot, rank) pairs it can fill
_ROLES: dict[str, tuple[tuple[int, int], ...]] = {}
for _slot, _keys in enumerate(SLOTS):
    for _rank, _key in enumerate(_keys):
        _ROLES[_key] = (*_ROLES.get(_key, ()), (_slot, _rank))
#: attribute name -> (its roles, whether it may be copied into custom attributes), learned per name
_key_info: dict[str, tuple[tuple[tuple[int, int], ...], bool]] = {}


def _info(key: str) -> tuple[tuple[tuple[int, int], ...], bool]:
    if len(_key_info) > 10_000:  # bounded against arbitrary attribute names
        _key_info.clear()
    info = _key_info[key] = (_ROLES.get(key, ()), not key.startswith(CONTENT_PREFIXES))
    return info


#: slots whose value the event stores in a field of its own: the attribute that filled one is not
#: repeated in the custom attributes (a session's conversation id is kept: a parent's session may win)
STORED_SLOTS = (S_MODEL, S_RESPONSE_MODEL, S_PROVIDER, S_INPUT, S_OUTPUT, S_TOTAL, S_CACHED, S_CACHE_CREATION,
                S_REASONING, S_AGENT_NAME, S_AGENT_ID, S_SESSION, S_GRAPH_NODE)
_STORED_SET = frozenset(STORED_SLOTS)


class _Plan:
    """How :func:`scan` reads spans whose attributes have one given key sequence (and header size):
    most spans of an instrumentor carry the same keys in the same order, so which key can fill
    which slot, which keys are copied into custom attributes and which of those the bound leaves
    out is worked out once per sequence instead of once per attribute of every span -- and
    compiled into one function (:attr:`run`) that reads the values by position."""

    __slots__ = ("run",)

    def __init__(self, keys: tuple[str, ...], room: int) -> None:
        candidates: dict[int, list[tuple[int, int]]] = {}
        custom_pos: list[int] = []
        for pos, key in enumerate(keys):
            info = _key_info.get(key) or _info(key)
            roles, keep = info
            for slot, rank in roles:
                candidates.setdefault(slot, []).append((rank, pos))
            if keep and (roles or room > 0):
                custom_pos.append(pos)
                if not roles:
                    room -= 1
        # Generated source names no attribute key (keys come from clients): only positions and
        # slot numbers, the keys are read from the tuple ``K``.
        lines = ["def run(values, custom):", f"    found = [None] * {len(SLOTS)}"]
        if len(custom_pos) > 1:
            lines.append("    custom.update(zip(CK, PICK(values), strict=True))")
        elif custom_pos:
            lines.append(f"    custom[K[{custom_pos[0]}]] = values[{custom_pos[0]}]")
        for slot, found in sorted(candidates.items()):
            indent = "    "
            for _, pos in sorted(found):  # best rank first; the first non-empty value wins
                lines.append(f"{indent}v = values[{pos}]")
                lines.append(f'{indent}if v is not None and v != "":')
                lines.append(f"{indent}    found[{slot}] = v")
                if slot in _STORED_SET:  # an event field: not repeated in the custom attributes
                    lines.append(f"{indent}    custom.pop(K[{pos}], None)")
                lines.append(f"{indent}else:")
                indent += "    "
            lines.append(f"{indent}pass")
        lines.append("    return found")
        namespace: dict[str, Any] = {"K": keys, "CK": tuple(keys[p] for p in custom_pos),
                                     "PICK": itemgetter(*custom_pos) if len(custom_pos) > 1 else None}
        exec(compile("\n".join(lines), "<llamonitor scan plan>", "exec"), namespace)
        #: ``run(values, custom) -> found``
        self.run: Callable[[list[Any], dict[str, Any]], list[Any]] = namespace["run"]


_plans: dict[tuple[int, tuple[str, ...]], _Plan] = {}


def _scan_planned(attrs: dict[str, Any], custom: dict[str, Any]) -> list[Any] | None:
    """:func:`scan` with ``custom`` through the plan of ``attrs``' key sequence; ``None`` when a value is a
    list or a map (never copied into custom attributes: the general loop decides per value)."""
    values = list(attrs.values())
    types = set(map(type, values))
    if dict in types or list in types:
        return None
    room = MAX_CUSTOM_ATTRIBUTES - len(custom)
    key = (room, tuple(attrs))
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) > 1000:  # bounded against spans of ever-new key sequences
            _plans.clear()
        plan = _plans[key] = _Plan(key[1], room)
    return plan.run(values, custom)


def scan(attrs: dict[str, Any], custom: dict[str, Any] | None = None) -> list[Any]:
    """Every slot's value in one pass over ``attrs`` (``None`` where no key of its table holds a
    non-empty value).

    With ``custom``, scalar non-content attributes are copied into it on the way: those that
    fill a :data:`STORED_SLOTS` slot are left out (their value is an event field), the others up
    to :data:`MAX_CUSTOM_ATTRIBUTES` entries (the mapped keys a span carries on top of the one
    that won their slot are few: at most the tables' ~50 more).

    One dict lookup per attribute instead of one per candidate key and field: a span carries
    15-30 attributes, the tables name about 50 keys.
    """
    if custom is not None:
        planned = _scan_planned(attrs, custom)
        if planned is not None:
            return planned
    return scan_each(attrs, custom)


def scan_each(attrs: dict[str, Any], custom: dict[str, Any] | None = None) -> list[Any]:
    """:func:`scan` attribute by attribute (what the planned path must equal)."""
    found: list[Any] = [None] * len(SLOTS)
    ranks = [_NO_RANK] * len(SLOTS)
    infos = _key_info
    if custom is None:
        for key, value in attrs.items():
            info = infos.get(key)
            roles = (info if info is not None else _info(key))[0]
            if roles and value is not None and value != "":
                for slot, rank in roles:
                    if rank < ranks[slot]:
                        ranks[slot] = rank
                        found[slot] = value
        return found
    won: list[str | None] = [None] * len(SLOTS)
    room = MAX_CUSTOM_ATTRIBUTES - len(custom)
    for key, value in attrs.items():
        info = infos.get(key)
        if info is None:
            info = _info(key)
        roles, keep = info
        if roles:
            if value is not None and value != "":
                for slot, rank in roles:
                    if rank < ranks[slot]:
                        ranks[slot] = rank
                        found[slot] = value
                        won[slot] = key
            if keep and not isinstance(value, (dict, list)):
                custom[key] = value
        elif keep and room > 0 and not isinstance(value, (dict, list)):
            custom[key] = value
            room -= 1
    for slot in STORED_SLOTS:
        winner = won[slot]
        if winner is not None:
            custom.pop(winner, None)
    return found


def _as_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def openinference_request_model(attrs: dict[str, Any]) -> str | None:
    """The ``model`` of OpenInference's ``llm.invocation_parameters`` (JSON of the request's parameters).

    OpenInference has one ``llm.model_name``, which its instrumentors overwrite with the
    response's model; the request's model survives only in the invocation parameters.
    """
    params = attrs.get(OPENINFERENCE_PARAMETERS)
    if not isinstance(params, str) or '"model"' not in params:
        return None
    try:
        value = json.loads(params)
    except ValueError:
        return None
    model = value.get("model") if isinstance(value, dict) else None
    return model if isinstance(model, str) and model else None


def system_text(value: Any) -> str:
    """``gen_ai.system_instructions`` (JSON list of parts) as text: the text parts' content joined,
    or the value as it came when it is not that shape."""
    parts: Any = value
    if isinstance(value, str):
        if not value.startswith("["):
            return value
        try:
            parts = json.loads(value)
        except ValueError:
            return value
    if isinstance(parts, list):
        texts = [p.get("content") for p in parts if isinstance(p, dict) and p.get("type", "text") == "text"]
        strings = [t for t in texts if isinstance(t, str)]
        if strings and len(strings) == len(texts):
            return "\n".join(strings)
    return value if isinstance(value, str) else json.dumps(value, default=str)


def operation_type(attrs: dict[str, Any]) -> str:
    """The event's ``operation_type`` from the first family that says."""
    op = attrs.get(GEN_AI_OPERATION_NAME)
    if op is not None and str(op) in GEN_AI_OPERATION_TYPES:
        return GEN_AI_OPERATION_TYPES[str(op)]
    kind = attrs.get(OPENINFERENCE_SPAN_KIND)
    if kind is not None and str(kind).upper() in OPENINFERENCE_TYPES:
        return OPENINFERENCE_TYPES[str(kind).upper()]
    for key in (TRACELOOP_SPAN_KIND, "llm.request.type"):
        kind = attrs.get(key)
        if kind is not None and str(kind) in TRACELOOP_TYPES:
            return TRACELOOP_TYPES[str(kind)]
    return str(op) if op else "llm_call"


#: whether TokenUsage's fields are in the order :func:`usage_of` passes them positionally
_USAGE_POSITIONAL = tuple(f.name for f in fields(TokenUsage)) == (
    "input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "cache_creation_input_tokens",
    "reasoning_tokens", "source")


def usage_of(found: list[Any]) -> TokenUsage | None:
    """Token usage as the provider reported it (from :func:`scan`'s slots), or ``None`` when the span carries none."""
    # counts are ints or absent in nearly every span: only other values pay for _as_int's call
    inp, out, total = found[S_INPUT], found[S_OUTPUT], found[S_TOTAL]
    if inp is not None and type(inp) is not int:
        inp = _as_int(inp)
    if out is not None and type(out) is not int:
        out = _as_int(out)
    if total is not None and type(total) is not int:
        total = _as_int(total)
    if inp is None and out is None and total is None:
        return None
    if total is None:
        total = (inp or 0) + (out or 0)
    cached, created, reasoning = found[S_CACHED], found[S_CACHE_CREATION], found[S_REASONING]
    if _USAGE_POSITIONAL and cached is None and created is None and reasoning is None:
        # the usual span: positional arguments cost a third of the keywords' (one TokenUsage per span)
        return TokenUsage(inp, out, total, None, None, None, "provider")
    return TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=total,
                      cached_input_tokens=cached if cached is None or type(cached) is int else _as_int(cached),
                      cache_creation_input_tokens=(created if created is None or type(created) is int
                                                   else _as_int(created)),
                      reasoning_tokens=(reasoning if reasoning is None or type(reasoning) is int
                                        else _as_int(reasoning)),
                      source="provider")


#: one identity object per distinct (framework, id, name, node): most spans of a request share few
_identities: dict[tuple[str | None, str | None, str | None, str | None], AgentIdentity] = {}


def agent_of(found: list[Any], attrs: dict[str, Any], framework: str | None) -> AgentIdentity | None:
    """The agent this span itself names (GenAI ``gen_ai.agent.*``, OpenInference ``agent.name``,
    OpenLLMetry agent spans' ``traceloop.entity.name``)."""
    name = found[S_AGENT_NAME]
    if name is None and attrs.get(TRACELOOP_SPAN_KIND) == "agent":
        name = attrs.get("traceloop.entity.name")
    node = found[S_GRAPH_NODE]
    if name is None and node is None:
        return None
    agent_id = found[S_AGENT_ID]
    key = (framework, str(agent_id) if agent_id is not None else None, str(name) if name is not None else None,
           str(node) if node is not None else None)
    identity = _identities.get(key)
    if identity is None:
        if len(_identities) > 10_000:  # bounded against arbitrary names
            _identities.clear()
        identity = _identities[key] = AgentIdentity(framework=key[0], agent_id=key[1], agent_name=key[2],
                                                    graph_node=key[3])
    return identity


def framework_of(span: OtlpSpan) -> str | None:
    """The instrumentation that produced the span (its scope name, shortened)."""
    scope = span.scope
    if not scope:
        return None
    if scope.startswith("openinference.instrumentation."):
        return "openinference." + scope.rsplit(".", 1)[-1]
    if scope.startswith("opentelemetry.instrumentation."):
        return "openllmetry." + scope.rsplit(".", 1)[-1]
    return scope


def custom_attributes(span: OtlpSpan) -> dict[str, Any]:
    """Scalar attributes other than content (bounded), plus the service and scope names."""
    out = _custom_header(span)
    scan(span.attributes, out)
    return out


def _custom_header(span: OtlpSpan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    service = span.resource.get("service.name")
    if service is not None:
        out["service.name"] = service
    if span.scope:
        out["otel.scope.name"] = span.scope
    out["otel.span.kind"] = span.kind
    return out


class SpanError(Exception):
    """Stands for the error status of an ingested span (its ``error_type`` is the reported one)."""


_error_types: dict[str, type[Exception]] = {}


def error_of(span: OtlpSpan) -> BaseException | None:
    """An exception standing for the span's ERROR status (named after ``exception.type``)."""
    if span.status_code != 2:
        return None
    name = (span.exception_type or "SpanError").rsplit(".", 1)[-1]
    if not name.isidentifier():
        name = "SpanError"
    cls = _error_types.get(name)
    if cls is None:
        if len(_error_types) > 1000:  # bounded against arbitrary exception names
            _error_types.clear()
        cls = _error_types[name] = SpanError if name == "SpanError" else type(name, (SpanError,), {})
    return cls(span.status_message or "span status ERROR")


_specs: dict[tuple[str, str], OperationSpec] = {}


def _spec(name: str, op_type: str) -> OperationSpec:
    key = (name, op_type)
    spec = _specs.get(key)
    if spec is None:
        if len(_specs) > 10_000:  # bound the cache against unbounded span names
            _specs.clear()
        spec = _specs[key] = OperationSpec(name, op_type)
    return spec


@dataclass
class IngestResult:
    """What one request produced: records for the writer and the spans not turned into one."""

    records: list[tuple[Any, ...]] = field(default_factory=list)
    skipped: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


_MARKER_SET = frozenset(MARKERS)


def is_genai(attrs: dict[str, Any]) -> bool:
    """Whether the span carries one of :data:`MARKERS`."""
    return not _MARKER_SET.isdisjoint(attrs)


def map_spans(spans: Iterable[OtlpSpan]) -> IngestResult:
    """Records for the GenAI spans; others are counted as skipped, unmappable ones as rejected.

    Agent identity flows down the parents within a request (a chat span inside an agent's span
    belongs to that agent), as it does for in-process context. The session is the span's
    ``session.id``, else its enclosing span's session, else its own ``gen_ai.conversation.id``
    (or OpenLLMetry's session association property). Only parents in the same request are seen:
    the Collector's / SDK's batching decides what arrives together.
    """
    spans = list(spans)
    result = IngestResult()
    by_id = {s.span_id: s for s in spans}
    scanned: dict[str, list[Any]] = {}
    customs: dict[str, dict[str, Any]] = {}
    agents: dict[str, AgentIdentity | None] = {}
    sessions: dict[str, str | None] = {}

    def found_of(span: OtlpSpan) -> list[Any]:
        found = scanned.get(span.span_id)
        if found is None:  # a span that is not GenAI work itself, read for what it passes down
            found = scanned[span.span_id] = scan(span.attributes)
        return found

    def inherited_agent(span: OtlpSpan, depth: int = 0) -> AgentIdentity | None:
        if span.span_id in agents:
            return agents[span.span_id]
        agent = agent_of(found_of(span), span.attributes, framework_of(span))
        if agent is None and depth < 64 and span.parent_span_id in by_id:
            agent = inherited_agent(by_id[span.parent_span_id], depth + 1)
        agents[span.span_id] = agent
        return agent

    def inherited_session(span: OtlpSpan, depth: int = 0) -> str | None:
        if span.span_id in sessions:
            return sessions[span.span_id]
        # an explicit session id wins; else the enclosing span's session (a nested agent run has
        # its own gen_ai.conversation.id but belongs to its caller's conversation); else its own
        found = found_of(span)
        value = found[S_SESSION]
        session = str(value) if value is not None else None
        if session is None and depth < 64 and span.parent_span_id in by_id:
            session = inherited_session(by_id[span.parent_span_id], depth + 1)
        if session is None:
            value = found[S_OWN_SESSION]
            session = str(value) if value is not None else None
        sessions[span.span_id] = session
        return session

    genai = []
    for span in spans:
        if is_genai(span.attributes):
            custom = customs[span.span_id] = _custom_header(span)
            scanned[span.span_id] = scan(span.attributes, custom)
            genai.append(span)
    result.skipped = len(spans) - len(genai)
    append = result.records.append
    for span in genai:
        try:
            append(_record(span, scanned[span.span_id], customs[span.span_id], inherited_agent(span),
                           inherited_session(span)))
        except Exception as exc:  # one bad span costs itself only
            result.rejected += 1
            if len(result.errors) < 5:
                result.errors.append(f"span {span.span_id}: {type(exc).__name__}: {exc}")
    return result


def _record(span: OtlpSpan, found: list[Any], custom: dict[str, Any], agent: AgentIdentity | None,
            session: str | None) -> tuple[Any, ...]:
    """The writer's record of one GenAI span, from its :func:`scan` slots and custom attributes."""
    if span.end_ns < span.start_ns:
        raise ValueError("endTimeUnixNano is before startTimeUnixNano")
    if span.start_ns <= 0:
        raise ValueError("startTimeUnixNano is missing")
    attrs = span.attributes
    model = found[S_MODEL]
    answered = found[S_RESPONSE_MODEL]
    if answered is None and model is not None and model == attrs.get(OPENINFERENCE_MODEL):
        asked = openinference_request_model(attrs)
        if asked is not None:  # llm.model_name is what answered; the request is in the parameters
            model, answered = asked, model
    provider = found[S_PROVIDER]
    extra: dict[str, Any] = {"model": str(model) if model is not None else None,
                             "response_model": str(answered) if answered is not None else None,
                             "provider": str(provider) if provider is not None else None,
                             "attributes": custom}
    usage = usage_of(found)
    if usage is not None:
        extra["usage"] = usage
    tool = found[S_TOOL]
    if tool is not None:
        custom["gen_ai.tool.name"] = tool
    inp = found[S_INPUT_CONTENT]
    if inp is not None:
        extra["input_content"] = inp if isinstance(inp, str) else repr(inp)
    out = found[S_OUTPUT_CONTENT]
    if out is not None:
        extra["output_content"] = out if isinstance(out, str) else repr(out)
    system = found[S_SYSTEM]
    if system is not None:  # stored only when the server captures content (through its redactor)
        extra["system_instructions"] = system_text(system)
    return (_spec(span.name, operation_type(attrs)), session, span.trace_id, span.span_id, span.parent_span_id,
            agent, span.start_ns, span.end_ns - span.start_ns, None, None, None, error_of(span), extra)
