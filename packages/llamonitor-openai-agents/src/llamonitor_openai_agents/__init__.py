"""One-line llamonitor instrumentation for the OpenAI Agents SDK (``openai-agents`` 0.20 to 0.24).

::

    from llamonitor_openai_agents import instrument_openai_agents
    instrument_openai_agents()     # before Runner.run(...)

How it hooks in: a tracing processor registered with the SDK's own ``add_trace_processor`` (the
SDK's exporter to the OpenAI platform keeps working beside it). Every SDK trace becomes one
llamonitor trace (same 32-hex id) and each of its spans one event, parented as the SDK parents
them:

- the trace itself -> ``operation_type="workflow"`` (the workflow name);
- agent span -> ``"agent"`` with the true agent name; an agent reached through a handoff has
  ``agent.handoff_from`` set to the agent that handed over;
- turn / task spans (on by default since 0.20) -> ``"agent_turn"`` / ``"agent_task"`` (without usage:
  their usage is the sum of their model calls, stored once on those);
- generation (Chat Completions) and response (Responses API) spans -> ``"chat"`` with model and
  the usage the provider reported;
- function tool calls -> ``"tool"``; guardrails -> ``"guardrail"`` (``triggered`` attribute);
  handoffs -> ``"handoff"`` (``openai_agents.from_agent`` / ``openai_agents.to_agent``).

Every event under an agent span carries that agent's identity (``framework="openai-agents"``).
While a generation / response span is open, SDK-level instrumentation is suppressed in that
context, so ``instrument_openai()`` does not record the same request a second time.

The SDK is imported only when :func:`instrument_openai_agents` is called; a version outside the
tested range raises :class:`RuntimeError`. The processor never raises into the SDK: a failure is
logged once and swallowed.
"""

from __future__ import annotations

import json
import threading
from contextlib import AbstractContextManager
from typing import Any

from llamonitor.instrumentation.adapter import Adapter, InstrumentOptions, UnsupportedVersion, version_tuple
from llamonitor.instrumentation.usage import field, usage_from
from llamonitor.schema.events import AgentIdentity
from llamonitor.tracing import Span, start_span, suppress_instrumentation

__all__ = ["SUPPORTED", "InstrumentOptions", "OpenAIAgentsAdapter", "OpenAIAgentsSpanError", "UnsupportedVersion",
           "instrument_openai_agents", "is_instrumented", "uninstrument_openai_agents"]
__version__ = "0.1.0"

FRAMEWORK = "openai-agents"
#: tested ``openai-agents`` versions: [low, high)
SUPPORTED = ((0, 20), (0, 25))
_MAX_OPEN = 10_000
_MODEL_KINDS = ("generation", "response")


class OpenAIAgentsSpanError(Exception):
    """Stands for an error the SDK attached to a span (``span.error``)."""


class _Open:
    __slots__ = ("agent", "kind", "span", "suppression", "trace")

    def __init__(self, span: Span, kind: str, trace: str, agent: AgentIdentity | None) -> None:
        self.span = span
        self.kind = kind
        self.trace = trace
        self.agent = agent
        self.suppression: AbstractContextManager[None] | None = None


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[str, _Open] = {}
        #: SDK trace id -> (to_agent -> from_agent) of handoffs not yet followed by the target agent
        self.handoffs: dict[str, dict[str, str]] = {}
        self.processor: Any = None


_state = _State()


def _hex_trace(trace_id: str) -> str:
    return trace_id.removeprefix("trace_")


def _hex_span(span_id: str) -> str:
    return span_id.removeprefix("span_")


def _version_ok(version: str) -> bool:
    return SUPPORTED[0] <= version_tuple(version) < SUPPORTED[1]


def _identity(name: str | None, handoff_from: str | None = None) -> AgentIdentity | None:
    if not name:
        return None
    return AgentIdentity(framework=FRAMEWORK, agent_name=name, agent_role=name, handoff_from=handoff_from)


def _start_span(sdk_span: Any) -> None:
    data = sdk_span.span_data
    kind = data.type
    trace = _hex_trace(sdk_span.trace_id)
    parent_sdk = sdk_span.parent_id
    attrs: dict[str, Any] = {"openai_agents.span_type": kind}
    with _state.lock:
        parent = _state.open.get(parent_sdk) if parent_sdk else _state.open.get(sdk_span.trace_id)
        agent = parent.agent if parent is not None else None
        model = None
        if kind == "agent":
            pending = _state.handoffs.get(sdk_span.trace_id)
            source = pending.pop(data.name, None) if pending else None
            agent = _identity(data.name, source)
            name, op = f"invoke_agent {data.name}", "agent"
            if data.tools:
                attrs["openai_agents.tools"] = list(data.tools)
            if data.handoffs:
                attrs["openai_agents.handoffs"] = list(data.handoffs)
        elif kind == "turn":
            agent = _identity(getattr(data, "agent_name", None)) or agent
            name, op = f"openai_agents.turn {getattr(data, 'turn', '')}".rstrip(), "agent_turn"
            attrs["openai_agents.turn"] = getattr(data, "turn", None)
        elif kind == "task":
            name, op = f"openai_agents.task {getattr(data, 'name', '')}".rstrip(), "agent_task"
        elif kind in _MODEL_KINDS:
            model = getattr(data, "model", None)
            name, op = (f"chat {model}" if model else "chat"), "chat"
        elif kind == "function":
            name, op = f"execute_tool {data.name}", "tool"
            attrs["gen_ai.tool.name"] = data.name
        elif kind == "guardrail":
            name, op = f"openai_agents.guardrail {data.name}", "guardrail"
            attrs["openai_agents.guardrail"] = data.name
        elif kind == "handoff":
            name, op = "openai_agents.handoff", "handoff"
        else:
            name, op = f"openai_agents.{kind}", kind
        parent_span = parent.span.span_id if parent is not None else None
        span = start_span(name, operation_type=op, trace_id=trace, parent_span_id=parent_span,
                          span_id=_hex_span(sdk_span.span_id), agent=agent, model=model,
                          provider="openai" if kind in _MODEL_KINDS else None, attributes=attrs,
                          inherit_context=False)
        entry = _Open(span, kind, trace, agent)
        _remember(sdk_span.span_id, entry)
    if kind in _MODEL_KINDS:
        # The SDK calls the model inside this span, in this context: the OpenAI SDK patch stays quiet.
        cm = suppress_instrumentation()
        cm.__enter__()
        entry.suppression = cm


def _remember(key: str, entry: _Open) -> None:
    if len(_state.open) >= _MAX_OPEN:  # spans the SDK never ended: forget the oldest
        for stale in list(_state.open)[: _MAX_OPEN // 10]:
            del _state.open[stale]
    _state.open[key] = entry


def _end_span(sdk_span: Any) -> None:
    with _state.lock:
        entry = _state.open.pop(sdk_span.span_id, None)
    if entry is None:
        return
    if entry.suppression is not None:
        try:
            entry.suppression.__exit__(None, None, None)
        except Exception:  # ended in another context than it started: the SDK's context ends with it
            pass
    data = sdk_span.span_data
    kind = entry.kind
    err = sdk_span.error
    error = OpenAIAgentsSpanError(str(field(err, "message") or err)) if err else None
    attrs: dict[str, Any] = {}
    usage = None
    model = answered = None
    if kind == "generation":
        usage = usage_from(data.usage)
        model = data.model
    elif kind == "response":
        response = data.response
        usage = usage_from(field(response, "usage")) or usage_from(getattr(data, "usage", None))
        # the Responses span names no requested model: the answering one stands in for it
        answered = field(response, "model")
        model = entry.span.model or answered
        if field(response, "id"):
            attrs["response_id"] = field(response, "id")
    elif kind == "handoff":
        attrs["openai_agents.from_agent"] = data.from_agent
        attrs["openai_agents.to_agent"] = data.to_agent
        if data.to_agent and data.from_agent:
            with _state.lock:
                _state.handoffs.setdefault(sdk_span.trace_id, {})[data.to_agent] = data.from_agent
    elif kind == "guardrail":
        attrs["openai_agents.triggered"] = bool(data.triggered)
    input_content = output_content = None
    if kind in _MODEL_KINDS and _adapter.capture():
        input_content, output_content = _content(data, kind)
    if model and kind in _MODEL_KINDS and entry.span.operation_name == "chat":
        entry.span.operation_name = f"chat {model}"  # the Responses span learns its model at the end
    # Turn / task usage is the sum of their model calls: not stored again, or token and cost totals would double.
    entry.span.end(error=error, usage=usage, model=model, response_model=answered, attributes=attrs or None,
                   input_content=input_content, output_content=output_content)


def _text(value: Any) -> str | None:
    """Messages / items as text: strings as they are, role-tagged dicts as ``role: content`` lines."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        lines = []
        for item in value:
            if isinstance(item, dict) and "content" in item:
                content = item["content"]
                body = content if isinstance(content, str) else json.dumps(content, default=str)
                lines.append(f"{item.get('role', 'message')}: {body}")
            else:
                lines.append(_text(item) or "")
        return "\n".join(lines)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def _content(data: Any, kind: str) -> tuple[str | None, str | None]:
    """Prompt and completion of a generation / response span (what the SDK kept of them)."""
    if kind == "generation":
        return _text(getattr(data, "input", None)), _text(getattr(data, "output", None))
    response = getattr(data, "response", None)
    out = field(response, "output_text")
    return _text(getattr(data, "input", None)), out if isinstance(out, str) else None


class _Processor:
    """The ``TracingProcessor`` registered with the SDK (duck-typed; the SDK only calls these)."""

    def on_trace_start(self, trace: Any) -> None:
        try:
            hex_id = _hex_trace(trace.trace_id)
            span = start_span(f"openai_agents.run {trace.name}", operation_type="workflow", trace_id=hex_id,
                              parent_span_id=None, span_id=hex_id[:16],
                              attributes={"openai_agents.workflow": trace.name}, inherit_context=False)
            with _state.lock:
                _remember(trace.trace_id, _Open(span, "trace", hex_id, None))
        except Exception as exc:
            _adapter.report(exc)

    def on_trace_end(self, trace: Any) -> None:
        try:
            with _state.lock:
                entry = _state.open.pop(trace.trace_id, None)
                _state.handoffs.pop(trace.trace_id, None)
            if entry is not None:
                entry.span.end()
        except Exception as exc:
            _adapter.report(exc)

    def on_span_start(self, span: Any) -> None:
        try:
            _start_span(span)
        except Exception as exc:
            _adapter.report(exc)

    def on_span_end(self, span: Any) -> None:
        try:
            _end_span(span)
        except Exception as exc:
            _adapter.report(exc)

    def shutdown(self) -> None:
        """Nothing to release: events go to llamonitor's writer, which has its own shutdown."""

    def force_flush(self) -> None:
        """Nothing buffered here."""


class OpenAIAgentsAdapter(Adapter):
    """A tracing processor registered with the SDK's own ``add_trace_processor``."""

    name = "openai_agents"
    framework = FRAMEWORK
    distribution = "openai-agents"
    module = "agents"
    supported = SUPPORTED
    install_hint = "pip install 'llamonitor-openai-agents[agents]'"

    def _install(self) -> None:
        from agents import add_trace_processor
        from agents.tracing import TracingProcessor

        processor = type("LlamonitorTracingProcessor", (_Processor, TracingProcessor), {})()
        with _state.lock:
            _state.processor = processor
        add_trace_processor(processor)

    def _uninstall(self) -> None:
        with _state.lock:
            processor = _state.processor
            _state.processor = None
            entries = list(_state.open.values())
            _state.open.clear()
            _state.handoffs.clear()
        if processor is None:
            return
        for entry in entries:  # open spans are dropped; their suppressions must not outlive them
            if entry.suppression is not None:
                try:
                    entry.suppression.__exit__(None, None, None)
                except Exception:
                    pass
        try:
            from agents.tracing import get_trace_provider

            provider = get_trace_provider()
            multi = getattr(provider, "_multi_processor", None)
            current = list(getattr(multi, "_processors", ()))
            if processor in current:
                current.remove(processor)
                provider.set_processors(current)
        except Exception as exc:
            _adapter.report(exc, "uninstall")


_adapter = OpenAIAgentsAdapter()
#: Record OpenAI Agents SDK runs, agents, turns, model calls, tools, guardrails and handoffs.
#: Raises ``ImportError`` naming the extra when the SDK is missing and :class:`UnsupportedVersion`
#: (a ``RuntimeError``) when its version is outside :data:`SUPPORTED`.
instrument_openai_agents = _adapter.instrument
#: Unregister the processor (open spans are dropped).
uninstrument_openai_agents = _adapter.uninstrument
#: Whether :func:`instrument_openai_agents` is active.
is_instrumented = _adapter.is_instrumented
