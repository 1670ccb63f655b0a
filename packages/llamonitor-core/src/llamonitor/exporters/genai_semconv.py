"""Our events -> the OpenTelemetry GenAI semantic conventions (span names, kinds, attributes).

``operation_type`` is free-form in llamonitor (each adapter says ``"chat"``, ``"tool"``,
``"agent"``, ``"workflow_step"``...). The conventions know a closed set of
``gen_ai.operation.name`` values (``GenAiOperationNameValues`` of
``opentelemetry.semconv._incubating.attributes.gen_ai_attributes``); :data:`OPERATION_NAMES`
maps ours onto them, and an event whose type has no GenAI meaning (a query engine step, a
handoff) keeps its own type and span name. The values are spelled here rather than imported so
the exporter does not need ``opentelemetry-semconv`` at run time;
``tests/exporters/test_genai_semconv.py`` compares them with the package's constants.

Span name: ``{operation} {model}`` for model calls, ``execute_tool {tool}``,
``invoke_agent {agent}``, ``invoke_workflow {name}``. Span kind: CLIENT for model calls (a
request to a provider), INTERNAL for tools, in-process agents and workflows.

Content (``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions``)
exists only on events whose content was captured, which happens only with content capture on and
after the redactor ran (``transport/enrich.py``). ``gen_ai.system_instructions`` comes from the
event's ``system_instructions`` (the system prompt the adapters take from system messages or a
separate ``system`` / ``instructions`` parameter), as the convention's list of parts.
"""

from __future__ import annotations

import json
from typing import Any

from llamonitor.schema.events import MetricEvent

CHAT, TEXT_COMPLETION, GENERATE_CONTENT = "chat", "text_completion", "generate_content"
EMBEDDINGS, RETRIEVAL, EXECUTE_TOOL = "embeddings", "retrieval", "execute_tool"
CREATE_AGENT, INVOKE_AGENT, INVOKE_WORKFLOW = "create_agent", "invoke_agent", "invoke_workflow"

#: every ``gen_ai.operation.name`` value the conventions define (semconv 1.37 / package 0.58b+)
SEMCONV_OPERATIONS = frozenset({CHAT, TEXT_COMPLETION, GENERATE_CONTENT, EMBEDDINGS, RETRIEVAL,
                                EXECUTE_TOOL, CREATE_AGENT, INVOKE_AGENT, INVOKE_WORKFLOW})

#: our ``operation_type`` spellings (adapters, decorators) -> the convention's value
OPERATION_NAMES: dict[str, str] = {
    **{op: op for op in SEMCONV_OPERATIONS},
    "llm_call": CHAT, "llm": CHAT, "completion": TEXT_COMPLETION, "responses": CHAT,
    "embedding": EMBEDDINGS, "retrieve": RETRIEVAL,
    "tool": EXECUTE_TOOL, "tool_call": EXECUTE_TOOL, "function": EXECUTE_TOOL,
    "agent": INVOKE_AGENT, "agent_chat": INVOKE_AGENT, "agent_turn": INVOKE_AGENT,
    "workflow": INVOKE_WORKFLOW, "agent_workflow": INVOKE_WORKFLOW, "team": INVOKE_WORKFLOW,
    "crew": INVOKE_WORKFLOW, "flow": INVOKE_WORKFLOW, "graph": INVOKE_WORKFLOW,
}

#: operations that call a model provider (span kind CLIENT, span name ``{op} {model}``)
MODEL_OPERATIONS = frozenset({CHAT, TEXT_COMPLETION, GENERATE_CONTENT, EMBEDDINGS})

#: ``openinference.span.kind`` per convention operation (OpenInference's own vocabulary)
OPENINFERENCE_KINDS: dict[str, str] = {
    CHAT: "LLM", TEXT_COMPLETION: "LLM", GENERATE_CONTENT: "LLM", EMBEDDINGS: "EMBEDDING",
    RETRIEVAL: "RETRIEVER", EXECUTE_TOOL: "TOOL", CREATE_AGENT: "AGENT", INVOKE_AGENT: "AGENT",
    INVOKE_WORKFLOW: "CHAIN",
}

SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT = 1, 3

# custom attribute keys adapters use for the tool's name / call id / finish reasons
_TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool_name", "tool")
_TOOL_CALL_ID_KEYS = ("gen_ai.tool.call.id", "tool_call_id")
_FINISH_KEYS = ("gen_ai.response.finish_reasons", "finish_reasons", "finish_reason", "stop_reason")
#: custom keys consumed by the mapping (not repeated as raw attributes)
CONSUMED_KEYS = frozenset({"response_model", "gen_ai.request.model", "gen_ai.response.model", "tool_name",
                           "tool_call_id", "finish_reasons", "finish_reason", "stop_reason"})


def operation_of(e: MetricEvent) -> str:
    """The ``gen_ai.operation.name`` of an event (its own type when the conventions have none).

    An untyped ``llm_call`` without a model or provider (a plain decorated function) stays
    ``llm_call``: calling it ``chat`` would claim a model call nobody saw.
    """
    op = e.operation_type or ""
    mapped = OPERATION_NAMES.get(op) or OPERATION_NAMES.get(op.lower())
    if mapped is None:
        return op
    if mapped in MODEL_OPERATIONS and op not in SEMCONV_OPERATIONS and not (e.model or e.provider):
        return op
    return mapped


def request_model_of(e: MetricEvent) -> str | None:
    """The model the caller asked for: the event's ``model``.

    Events stored before schema version 2 had no ``response_model``; the SDK adapters then put
    the answering model in ``model`` and the request's in a ``gen_ai.request.model`` custom
    attribute, which still wins for them (spill files and replays of old events)."""
    if e.response_model is None:
        asked = e.custom_attributes.get("gen_ai.request.model")
        if asked:
            return str(asked)
    return e.model


def response_model_of(e: MetricEvent) -> str | None:
    """The model the provider says answered: the event's ``response_model`` (legacy custom
    attributes for events written before it existed)."""
    if e.response_model is not None:
        return e.response_model
    custom = e.custom_attributes
    answered = custom.get("gen_ai.response.model") or custom.get("response_model")
    if answered:
        return str(answered)
    asked = custom.get("gen_ai.request.model")
    return e.model if asked and e.model != asked else None


def _first(custom: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = custom.get(key)
        if value not in (None, ""):
            return value
    return None


def _suffix(name: str, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return None


def tool_name_of(e: MetricEvent) -> str | None:
    """The tool's name: a custom attribute, else the event's name without ``tool `` / ``execute_tool ``."""
    value = _first(e.custom_attributes, _TOOL_NAME_KEYS)
    if value is not None:
        return str(value)
    name = e.operation_name or ""
    return _suffix(name, ("execute_tool ", "tool ")) or name or None


def agent_name_of(e: MetricEvent) -> str | None:
    """The agent's name (identity first, then the event's name without ``invoke_agent ``)."""
    ag = e.agent
    if ag is not None and (ag.agent_name or ag.agent_id):
        return ag.agent_name or ag.agent_id
    name = e.operation_name or ""
    return _suffix(name, ("invoke_agent ",)) or name or None


def finish_reasons_of(e: MetricEvent) -> list[str] | None:
    """Finish reasons as a list (adapters store one reason or a comma-joined string)."""
    value = _first(e.custom_attributes, _FINISH_KEYS)
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def span_name(e: MetricEvent, op: str) -> str:
    """``{operation} {target}`` per the conventions; the event's own name for other operations."""
    target: str | None = None
    if op in MODEL_OPERATIONS:
        target = request_model_of(e)
    elif op == EXECUTE_TOOL:
        target = tool_name_of(e)
    elif op in (INVOKE_AGENT, CREATE_AGENT):
        target = agent_name_of(e)
    elif op == INVOKE_WORKFLOW:
        target = _suffix(e.operation_name or "", ("invoke_workflow ",)) or e.operation_name or None
    if op in SEMCONV_OPERATIONS:
        return f"{op} {target}" if target else op
    return e.operation_name or op


def span_kind(op: str) -> int:
    """CLIENT for a request to a model provider, INTERNAL for in-process work."""
    return SPAN_KIND_CLIENT if op in MODEL_OPERATIONS or op == RETRIEVAL else SPAN_KIND_INTERNAL


def _messages(role: str, text: str, finish: list[str] | None = None) -> str:
    msg: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": text}]}
    if finish:
        msg["finish_reason"] = finish[0]
    return json.dumps([msg], ensure_ascii=False)


def genai_attributes(e: MetricEvent, op: str, *, openinference: bool = False) -> dict[str, Any]:
    """The GenAI attributes of an event beyond the usage / model / agent ones the exporter sets."""
    a: dict[str, Any] = {}
    if op == EXECUTE_TOOL:
        a["gen_ai.tool.name"] = tool_name_of(e)
        call_id = _first(e.custom_attributes, _TOOL_CALL_ID_KEYS)
        a["gen_ai.tool.call.id"] = str(call_id) if call_id is not None else None
        a["gen_ai.tool.type"] = e.custom_attributes.get("gen_ai.tool.type") or "function"
    if e.session_id:
        a["gen_ai.conversation.id"] = e.session_id
    finish = finish_reasons_of(e)
    if finish:
        a["gen_ai.response.finish_reasons"] = finish
    # content only exists when capture was on (and after the redactor): never add it otherwise
    if e.input_content is not None:
        a["gen_ai.input.messages"] = _messages("user", e.input_content)
    if e.output_content is not None:
        a["gen_ai.output.messages"] = _messages("assistant", e.output_content, finish)
    if e.system_instructions is not None:
        a["gen_ai.system_instructions"] = json.dumps([{"type": "text", "content": e.system_instructions}],
                                                     ensure_ascii=False)
    if openinference:
        a["openinference.span.kind"] = OPENINFERENCE_KINDS.get(op, "CHAIN")
    return a
