"""One-line llamonitor instrumentation for CrewAI (>= 1.15).

::

    from llamonitor_crewai import instrument_crewai
    instrument_crewai()            # before crew.kickoff()

Every crew kickoff, task, agent execution, LLM call, tool use and (user) flow / flow method
becomes an event in one trace. Span ids are CrewAI's own event ids (the ``*_started`` event's
``event_id``), parents follow CrewAI's event scopes, and every event carries the real agent
identity (``framework="crewai"``, ``agent_role`` / ``agent_name`` = the role, ``agent_id`` = the
agent's id, ``task`` = the task name). An agent execution started inside another agent's
execution (delegation through "Delegate work to coworker" / "Ask question to coworker") or after
another agent's task in the same crew has ``agent.handoff_from`` set to that agent's role.

How it hooks in: CrewAI runs its event handlers on a thread pool, so context variables do not
follow them and their order is not guaranteed. The adapter therefore observes the event bus at
``emit`` time, in the emitting thread, after CrewAI has assigned the event's ids: it records in
order, links by CrewAI's ids, and can switch SDK-level instrumentation off for the duration of
each LLM call. That is how one LLM call produces one event with ``instrument_openai()`` active:
the CrewAI event (with the agent identity and the usage CrewAI reports) is recorded and the
OpenAI SDK event of the same call is suppressed.

CrewAI is imported only when :func:`instrument_crewai` is called. Handlers never raise into
CrewAI: a failure is logged once and swallowed.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any

from llamonitor.context import get_current_span_id, get_current_trace_id
from llamonitor.instrumentation.adapter import Adapter, InstrumentOptions
from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.tracing import Span, start_span, suppress_instrumentation

__all__ = ["CrewAIAdapter", "CrewAIEventError", "InstrumentOptions", "instrument_crewai", "is_instrumented",
           "uninstrument_crewai"]
__version__ = "0.1.0"

FRAMEWORK = "crewai"

#: started event type -> (operation type, span kind)
_STARTS = {
    "crew_kickoff_started": "crew",
    "task_started": "task",
    "agent_execution_started": "agent",
    "lite_agent_execution_started": "agent",
    "llm_call_started": "chat",
    "tool_usage_started": "tool",
    "flow_started": "flow",
    "method_execution_started": "flow_method",
}
_ENDS = {
    "crew_kickoff_completed", "crew_kickoff_failed", "task_completed", "task_failed",
    "agent_execution_completed", "agent_execution_error", "lite_agent_execution_completed",
    "lite_agent_execution_error", "llm_call_completed", "llm_call_failed", "tool_usage_finished",
    "tool_usage_error", "flow_finished", "flow_failed", "method_execution_finished", "method_execution_failed",
}
_AGENT_SCOPES = ("agent_execution_started", "lite_agent_execution_started")
_MAX_OPEN = 10_000
_DELEGATION_TOOLS = ("delegate work to coworker", "ask question to coworker")


class CrewAIEventError(Exception):
    """Stands for a failure CrewAI reported as a message (``*_failed`` / ``*_error`` events)."""


class _Open:
    __slots__ = ("agent", "input", "kind", "span", "trace")

    def __init__(self, span: Span, kind: str, trace: str, agent: AgentIdentity | None) -> None:
        self.span = span
        self.kind = kind
        self.trace = trace
        self.agent = agent
        self.input: str | None = None  # the prompt, only when content capture is on


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[str, _Open] = {}
        #: trace id -> role of the last top-level agent execution (sequence handoffs)
        self.last_agent: dict[str, str] = {}
        #: LLM call id -> active suppress_instrumentation() block
        self.suppressions: dict[str, AbstractContextManager[None]] = {}
        self.bus: Any = None
        self.orig_emit: Any = None
        self.orig_aemit: Any = None


_state = _State()


def _messages_text(messages: Any) -> str | None:
    """A CrewAI LLM call's ``messages`` (a string or a list of role / content dicts) as text."""
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list):
        return None
    lines = []
    for msg in messages:
        if isinstance(msg, dict):
            lines.append(f"{msg.get('role', 'message')}: {msg.get('content', '')}")
        else:
            lines.append(str(msg))
    return "\n".join(lines)


def _stack() -> tuple[tuple[str, str], ...] | None:
    try:
        from crewai.events.event_context import _event_id_stack  # CrewAI's scope stack (a tuple)

        return _event_id_stack.get()
    except Exception:
        return None


def _recorded_parent(event: Any) -> _Open | None:
    """The closest enclosing scope that this adapter records (flows inside agents are skipped)."""
    stack = _stack()
    if stack is None:
        parent_id = getattr(event, "parent_event_id", None)
        return _state.open.get(parent_id) if parent_id else None
    in_agent = [i for i, (_, typ) in enumerate(stack) if typ in _AGENT_SCOPES]
    for i in range(len(stack) - 1, -1, -1):
        eid, typ = stack[i]
        if eid == event.event_id or typ not in _STARTS:
            continue
        if typ in ("flow_started", "method_execution_started") and any(j < i for j in in_agent):
            continue  # CrewAI's internal agent-executor flow
        found = _state.open.get(eid)
        if found is not None:
            return found
    return None


def _agent_identity(event: Any, task: str | None = None, handoff_from: str | None = None) -> AgentIdentity | None:
    agent = getattr(event, "agent", None) or getattr(event, "from_agent", None)
    role = getattr(event, "agent_role", None) or (getattr(agent, "role", None) if agent is not None else None)
    agent_id = getattr(event, "agent_id", None) or (getattr(agent, "id", None) if agent is not None else None)
    info = getattr(event, "agent_info", None)
    if role is None and isinstance(info, dict):
        role = info.get("role")
        agent_id = agent_id or info.get("id")
    if role is None and agent_id is None:
        return None
    if task is None:
        task = _task_name(event)
    return AgentIdentity(framework=FRAMEWORK, agent_id=str(agent_id) if agent_id is not None else None,
                         agent_name=str(role) if role is not None else None,
                         agent_role=str(role) if role is not None else None, task=task, handoff_from=handoff_from)


def _task_name(event: Any) -> str | None:
    name = getattr(event, "task_name", None)
    if name:
        return str(name)
    task = getattr(event, "task", None) or getattr(event, "from_task", None)
    if task is None:
        return None
    name = getattr(task, "name", None) or getattr(task, "description", None)
    return str(name) if name else None


def _usage(raw: Any) -> TokenUsage | None:
    if not isinstance(raw, dict):
        return None

    def num(*keys: str) -> int | None:
        for key in keys:
            value = raw.get(key)
            if isinstance(value, int):
                return value
        return None

    inp = num("prompt_tokens", "input_tokens")
    out = num("completion_tokens", "output_tokens")
    if inp is None and out is None:
        return None
    total = num("total_tokens")
    return TokenUsage(input_tokens=inp, output_tokens=out,
                      total_tokens=total if total is not None else (inp or 0) + (out or 0),
                      cached_input_tokens=num("cached_prompt_tokens", "cached_tokens"),
                      reasoning_tokens=num("reasoning_tokens"), source="provider")


def _start(source: Any, event: Any, typ: str) -> None:
    kind = _STARTS[typ]
    with _state.lock:
        if kind in ("flow", "flow_method"):
            stack = _stack() or ()
            if any(t in _AGENT_SCOPES for _, t in stack):
                return  # CrewAI's internal agent-executor flow
        parent = _recorded_parent(event)
        attrs: dict[str, Any] = {"crewai.event_type": typ}
        agent: AgentIdentity | None = None
        model = provider = None
        task = _task_name(event)
        if kind == "crew":
            name = f"crewai.crew {getattr(event, 'crew_name', None) or 'crew'}"
        elif kind == "task":
            name = f"crewai.task {task or 'task'}"
            agent = _agent_identity(getattr(getattr(event, "task", None), "agent", None) and
                                    _AgentView(event.task.agent), task)
        elif kind == "agent":
            trace_key = parent.trace if parent is not None else ""
            delegator = _enclosing_agent(parent)
            handoff = None
            if delegator is not None and delegator.agent_role:
                handoff = delegator.agent_role
            agent = _agent_identity(event, task)
            role = agent.agent_role if agent is not None else None
            if delegator is None and role:
                prev = _state.last_agent.get(trace_key)
                if prev and prev != role:
                    handoff = prev
                _state.last_agent[trace_key] = role
            if agent is not None:
                agent.handoff_from = handoff
            name = f"crewai.agent {role or 'agent'}"
            if handoff:
                attrs["crewai.handoff_kind"] = "delegation" if delegator is not None else "sequence"
        elif kind == "chat":
            model = getattr(event, "model", None)
            provider = getattr(source, "provider", None)
            agent = _agent_identity(event, task) or (parent.agent if parent is not None else None)
            name = f"chat {model}" if model else "chat"
            attrs["crewai.call_id"] = getattr(event, "call_id", None)
        elif kind == "tool":
            tool = getattr(event, "tool_name", None) or "tool"
            agent = _agent_identity(event, task) or (parent.agent if parent is not None else None)
            name = f"crewai.tool {tool}"
            attrs["crewai.tool_name"] = tool
            if str(tool).lower().replace("_", " ") in _DELEGATION_TOOLS:
                args = getattr(event, "tool_args", None)
                if isinstance(args, dict) and args.get("coworker"):
                    attrs["crewai.delegated_to"] = str(args["coworker"])
        elif kind == "flow":
            name = f"crewai.flow {getattr(event, 'flow_name', None) or 'flow'}"
        else:
            name = f"crewai.flow_method {getattr(event, 'method_name', None) or 'method'}"
        if agent is None and parent is not None and kind != "crew":
            agent = parent.agent
        parent_span: str | None
        if parent is not None:
            trace, parent_span = parent.trace, parent.span.span_id
        else:
            trace = get_current_trace_id() or event.event_id.replace("-", "")
            parent_span = get_current_span_id()
        span = start_span(name, operation_type=kind, trace_id=trace, parent_span_id=parent_span,
                          span_id=event.event_id, agent=agent, model=model, provider=provider, attributes=attrs)
        if len(_state.open) >= _MAX_OPEN:  # scopes CrewAI never closed: forget the oldest
            for stale in list(_state.open)[: _MAX_OPEN // 10]:
                del _state.open[stale]
        entry = _state.open[event.event_id] = _Open(span, kind, trace, agent)
        if kind == "chat" and _adapter.capture():
            entry.input = _messages_text(getattr(event, "messages", None))
        if kind == "crew" and parent is None:
            _state.last_agent.pop(trace, None)
    if kind == "chat":
        call_id = getattr(event, "call_id", None)
        if call_id:
            cm = suppress_instrumentation()
            cm.__enter__()
            with _state.lock:
                _state.suppressions[str(call_id)] = cm


class _AgentView:
    """Lets :func:`_agent_identity` read a bare agent object."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent


def _enclosing_agent(parent: _Open | None) -> AgentIdentity | None:
    """The agent whose execution encloses ``parent`` (delegation source), if any."""
    if parent is None:
        return None
    if parent.kind in ("agent", "tool", "chat") and parent.agent is not None:
        return parent.agent
    return None


def _end(event: Any, typ: str) -> None:
    if typ in ("llm_call_completed", "llm_call_failed"):
        call_id = getattr(event, "call_id", None)
        with _state.lock:
            cm = _state.suppressions.pop(str(call_id), None) if call_id else None
        if cm is not None:
            try:
                cm.__exit__(None, None, None)
            except Exception:
                pass
    started = getattr(event, "started_event_id", None)
    with _state.lock:
        entry = _state.open.pop(started, None) if started else None
        if entry is not None and entry.kind == "crew":
            _state.last_agent.pop(entry.trace, None)
    if entry is None:
        return
    err = getattr(event, "error", None)
    error = CrewAIEventError(str(err)) if err is not None and typ.endswith(("_failed", "_error")) else None
    usage = None
    output: str | None = None
    attrs: dict[str, Any] = {}
    if typ == "llm_call_completed":
        usage = _usage(getattr(event, "usage", None))
        if entry.input is not None:
            response = getattr(event, "response", None)
            output = response if isinstance(response, str) else (str(response) if response is not None else None)
        finish = getattr(event, "finish_reason", None)
        if finish:
            attrs["finish_reason"] = finish
        if getattr(event, "response_id", None):
            attrs["response_id"] = event.response_id
    elif typ == "crew_kickoff_completed" and getattr(event, "total_tokens", None):
        attrs["crewai.total_tokens"] = event.total_tokens
    elif typ == "tool_usage_finished" and getattr(event, "from_cache", False):
        attrs["crewai.from_cache"] = True
    entry.span.end(error=error, usage=usage, attributes=attrs or None, input_content=entry.input,
                   output_content=output)


def _observe(source: Any, event: Any) -> None:
    try:
        typ = getattr(event, "type", None)
        if typ in _STARTS:
            _start(source, event, typ)
        elif typ in _ENDS:
            _end(event, typ)
    except Exception as exc:  # never into CrewAI
        _adapter.report(exc)


class CrewAIAdapter(Adapter):
    """Observes CrewAI's event bus at ``emit`` time (see the module docstring for why)."""

    name = "crewai"
    framework = FRAMEWORK
    distribution = "crewai"
    module = "crewai.events.event_bus"
    supported = ((1, 15), (2, 0))
    install_hint = "pip install 'llamonitor-crewai[crewai]'"

    def _install(self) -> None:
        from crewai.events.event_bus import crewai_event_bus

        with _state.lock:
            bus = crewai_event_bus
            orig_emit = bus.emit
            orig_aemit = getattr(bus, "aemit", None)

            def emit(source: Any, event: Any) -> Any:
                result = orig_emit(source, event)
                _observe(source, event)
                return result

            async def aemit(source: Any, event: Any) -> None:
                await orig_aemit(source, event)  # type: ignore[misc]
                _observe(source, event)

            bus.emit = emit  # type: ignore[method-assign]
            if orig_aemit is not None:
                bus.aemit = aemit  # type: ignore[method-assign]
            _state.bus, _state.orig_emit, _state.orig_aemit = bus, orig_emit, orig_aemit

    def _uninstall(self) -> None:
        with _state.lock:
            bus = _state.bus
            if bus is None:
                return
            for attr in ("emit", "aemit"):
                if attr in vars(bus):
                    delattr(bus, attr)
            _state.bus = _state.orig_emit = _state.orig_aemit = None
            _state.open.clear()
            _state.last_agent.clear()
            cms = list(_state.suppressions.values())
            _state.suppressions.clear()
        for cm in cms:  # open spans are dropped; their suppressions must not outlive them
            try:
                cm.__exit__(None, None, None)
            except Exception:
                pass


_adapter = CrewAIAdapter()
#: Record CrewAI crews, tasks, agents, LLM calls, tools and flows (``capture_content`` adds prompts / responses).
instrument_crewai = _adapter.instrument
#: Stop recording CrewAI events (open spans are dropped).
uninstrument_crewai = _adapter.uninstrument
#: Whether :func:`instrument_crewai` is active.
is_instrumented = _adapter.is_instrumented
