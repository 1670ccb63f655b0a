"""What the plugin records: ADK's callbacks turned into llamonitor spans (no ADK import here).

ADK calls a plugin's callbacks from several asyncio tasks (the runner's, one per agent node, one
per tool call), so the open spans live in one lock-guarded table per invocation, found again by
invocation id, agent name and function-call id, never through ``contextvars`` of the caller.
Two context changes are made, each undone in the same task: the tool span is made current while
the tool runs (the user's own spans and an ``AgentTool``'s inner run nest under it) and
SDK-level instrumentation is suppressed while a model request is in flight.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from contextlib import AbstractContextManager
from typing import Any

from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.tracing import Span, start_span, suppress_instrumentation

FRAMEWORK = "google-adk"
#: ADK's built-in tool that hands the conversation to another agent
TRANSFER_TOOL = "transfer_to_agent"
#: open invocations kept; past this the oldest is closed (a run whose after-run never came)
MAX_RUNS = 1_000
#: captured text longer than this is cut (the writer's sanitiser has its own, larger limit)
_MAX_TEXT = 32_000


def _identity(name: str | None, handoff_from: str | None = None) -> AgentIdentity | None:
    if not name:
        return None
    return AgentIdentity(framework=FRAMEWORK, agent_name=name, agent_role=name, handoff_from=handoff_from)


def _epoch(span: Span, perf_ns: int) -> int:
    """A ``perf_counter_ns`` reading of this span's lifetime as Unix nanoseconds."""
    return span.start_ns + max(0, perf_ns - span.t0)


def _exit(cm: AbstractContextManager[Any] | None) -> None:
    if cm is None:
        return
    try:
        cm.__exit__(None, None, None)
    except Exception:  # entered in another context: that context ends with its task
        pass


def _task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class _Agent:
    """One open agent invocation (``before_agent`` .. ``after_agent``)."""

    __slots__ = ("identity", "last_ns", "name", "parent", "span", "task")

    def __init__(self, span: Span, name: str, identity: AgentIdentity | None, parent: str) -> None:
        self.span = span
        self.name = name
        self.identity = identity
        self.parent = parent  # parent span id, for a sibling started after a transfer
        self.task = _task()
        self.last_ns = span.t0  # end of its latest finished child (perf_counter_ns)

    def touch(self) -> None:
        self.last_ns = time.perf_counter_ns()


class _Model:
    """One model request: ``before_model`` .. the last non-partial ``after_model``."""

    __slots__ = ("agent", "finish", "first_ns", "input", "last_ns", "model", "output", "responses", "span",
                 "suppression", "usage")

    def __init__(self, span: Span, agent: _Agent | None) -> None:
        self.span = span
        self.agent = agent
        self.usage: Any = None
        self.model: str | None = None
        self.finish: str | None = None
        self.input: str | None = None
        self.output: list[str] = []
        self.first_ns: int | None = None
        self.last_ns = span.t0
        self.responses = 0  # non-partial responses seen
        self.suppression: AbstractContextManager[None] | None = None


class _Tool:
    __slots__ = ("activation", "agent", "input", "span")

    def __init__(self, span: Span, agent: _Agent | None) -> None:
        self.span = span
        self.agent = agent
        self.input: str | None = None
        self.activation: AbstractContextManager[Any] | None = None


class _Run:
    """The open spans of one invocation (``runner.run_async`` call)."""

    __slots__ = ("agents", "handoffs", "inv", "models", "session", "span", "tools", "trace")

    def __init__(self, inv: str, span: Span) -> None:
        self.inv = inv
        self.span = span
        self.session: str | None = span.session
        self.trace = span.trace_id
        self.agents: dict[str, list[_Agent]] = {}
        self.models: dict[str, _Model] = {}
        self.tools: dict[str, _Tool] = {}
        #: target agent -> the agent whose ``transfer_to_agent`` named it (not yet started)
        self.handoffs: dict[str, str] = {}

    def agent(self, name: str | None) -> _Agent | None:
        stack = self.agents.get(name or "")
        return stack[-1] if stack else None


# ---------------------------------------------------------------------------------- ADK accessors
def _invocation(ctx: Any) -> Any:
    """The ``InvocationContext`` behind a callback / tool context (public getter from ADK 2.12)."""
    getter = getattr(ctx, "get_invocation_context", None)
    if callable(getter):
        return getter()
    return getattr(ctx, "_invocation_context", ctx)


def _text_of(content: Any) -> str | None:
    """The text parts of a ``types.Content`` (function calls as ``name(args)``)."""
    parts = getattr(content, "parts", None)
    if not parts:
        return None
    out = []
    for part in parts:
        text = getattr(part, "text", None)
        if text and not getattr(part, "thought", False):
            out.append(text)
            continue
        call = getattr(part, "function_call", None)
        if call is not None:
            out.append(f"{getattr(call, 'name', '')}({getattr(call, 'args', None) or {}})")
    return "".join(out)[:_MAX_TEXT] if out else None


def _request_text(llm_request: Any) -> str | None:
    lines = []
    config = getattr(llm_request, "config", None)
    system = getattr(config, "system_instruction", None)
    if isinstance(system, str) and system:
        lines.append(f"system: {system}")
    for content in getattr(llm_request, "contents", None) or ():
        text = _text_of(content)
        if text:
            lines.append(f"{getattr(content, 'role', None) or 'user'}: {text}")
    return "\n".join(lines)[-_MAX_TEXT:] if lines else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_from(meta: Any) -> TokenUsage | None:
    """llamonitor's ``TokenUsage`` from ADK's ``usage_metadata`` (Gemini's ``usageMetadata``).

    Gemini counts thinking tokens (``thoughts_token_count``) apart from the answer
    (``candidates_token_count``) and tool-use prompt tokens apart from the prompt; llamonitor's
    input includes cached and tool-use prompt tokens, and its output includes reasoning tokens,
    so the totals are priced as Google bills them.
    """
    if meta is None:
        return None
    prompt = _int(getattr(meta, "prompt_token_count", None))
    tool_prompt = _int(getattr(meta, "tool_use_prompt_token_count", None))
    candidates = _int(getattr(meta, "candidates_token_count", None))
    thoughts = _int(getattr(meta, "thoughts_token_count", None))
    if prompt is None and candidates is None and thoughts is None:
        return None
    inp = (prompt or 0) + (tool_prompt or 0) if prompt is not None or tool_prompt is not None else None
    out = (candidates or 0) + (thoughts or 0) if candidates is not None or thoughts is not None else None
    total = _int(getattr(meta, "total_token_count", None))
    return TokenUsage(input_tokens=inp, output_tokens=out,
                      total_tokens=total if total is not None else (inp or 0) + (out or 0),
                      cached_input_tokens=_int(getattr(meta, "cached_content_token_count", None)),
                      cache_creation_input_tokens=_int(getattr(meta, "cache_creation_input_tokens", None)),
                      reasoning_tokens=thoughts, source="provider")


def _provider(agent: Any, model: str | None) -> str | None:
    """``gen_ai.provider.name`` of the agent's model (OpenTelemetry GenAI values)."""
    llm = getattr(agent, "model", None)
    cls = type(llm).__name__ if llm is not None and not isinstance(llm, str) else ""
    name = (model or (llm if isinstance(llm, str) else getattr(llm, "model", "")) or "").lower()
    if cls in ("AnthropicLlm", "Claude") or (not cls and name.startswith("claude")):
        return "gcp.vertex_ai" if cls == "Claude" else "anthropic"
    if cls == "LiteLlm":
        return name.split("/", 1)[0] if "/" in name else "litellm"
    if cls in ("", "Gemini", "Gemma") and (name.startswith(("gemini", "gemma", "projects/", "models/"))):
        vertex = os.environ.get("GOOGLE_GENAI_USE_VERTEXAI", "").lower() in ("1", "true")
        return "gcp.vertex_ai" if vertex or name.startswith("projects/") else "gcp.gemini"
    return cls.lower() or None


# ---------------------------------------------------------------------------------- the recorder
class Recorder:
    """Turns plugin callbacks into spans. Every method may raise: the plugin reports and swallows."""

    def __init__(self, capture: Any) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, _Run] = {}
        self._capture = capture  # () -> bool, read when a model call starts

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, ic: Any, user_message: Any = None) -> None:
        inv = str(getattr(ic, "invocation_id", "") or "")
        with self.lock:
            if inv in self.runs:
                return
        session = getattr(ic, "session", None)
        app = getattr(ic, "app_name", None) or getattr(session, "app_name", None) or "app"
        attrs: dict[str, Any] = {"google_adk.app_name": app, "google_adk.invocation_id": inv}
        adk_session = getattr(session, "id", None)
        if adk_session:
            attrs["google_adk.session_id"] = adk_session
        user = getattr(ic, "user_id", None) or getattr(session, "user_id", None)
        if user:
            attrs["google_adk.user_id"] = user
        root = getattr(getattr(ic, "agent", None), "name", None)
        if root:
            attrs["google_adk.root_agent"] = root
        # Inside the caller's context: a llamonitor session / span around runner.run_async (or the
        # tool span of an AgentTool running this inner invocation) becomes the parent.
        span = start_span(f"google_adk.run {app}", operation_type="workflow", attributes=attrs)
        if span.session is None and adk_session:
            span.session = str(adk_session)  # an ADK session is a conversation: llamonitor's session
        span.agent = None  # the run itself is no agent's work
        run = _Run(inv, span)
        evicted: list[_Run] = []
        with self.lock:
            if inv in self.runs:
                return
            while len(self.runs) >= MAX_RUNS:
                evicted.append(self.runs.pop(next(iter(self.runs))))
            self.runs[inv] = run
        for old in evicted:
            self._close(old, None)

    def _run(self, ctx: Any) -> _Run:
        """The run of a callback context, started on the spot if its before-run was not seen."""
        ic = _invocation(ctx)
        inv = str(getattr(ic, "invocation_id", "") or "")
        with self.lock:
            run = self.runs.get(inv)
        if run is None:
            self.start_run(ic)
            with self.lock:
                run = self.runs[inv]
        return run

    def _find(self, ctx: Any) -> _Run | None:
        """The run of a callback context if it was started (end callbacks never start one)."""
        inv = str(getattr(_invocation(ctx), "invocation_id", "") or "")
        with self.lock:
            return self.runs.get(inv)

    def end_run(self, ic: Any, error: BaseException | None = None) -> None:
        inv = str(getattr(ic, "invocation_id", "") or "")
        with self.lock:
            run = self.runs.pop(inv, None)
        if run is not None:
            self._close(run, error)

    def _close(self, run: _Run, error: BaseException | None) -> None:
        for name in list(run.models):
            self._finish_model(run, name)
        for tool in list(run.tools.values()):
            tool.span.end(error=error)
        run.tools.clear()
        # Agents still open: ADK 2 ends an agent that transferred away without after_agent.
        stacks = list(run.agents.values())
        run.agents.clear()
        for stack in stacks:
            for entry in reversed(stack):
                entry.span.end(end_ns=_epoch(entry.span, entry.last_ns))
        run.span.end(error=error)

    # -- agents --------------------------------------------------------------------------------
    def start_agent(self, agent: Any, ctx: Any) -> None:
        run = self._run(ctx)
        name = str(getattr(agent, "name", None) or getattr(ctx, "agent_name", "") or "agent")
        finished: list[_Agent] = []
        with self.lock:
            source = run.handoffs.pop(name, None)
            parent = run.span.span_id
            if source is not None and (src := run.agent(source)) is not None:
                if src.task is not None and src.task.done():
                    # ADK 2: the transferring agent's node has returned; the target runs beside it.
                    run.agents[source].pop()
                    finished.append(src)
                    parent = src.parent
                else:  # the legacy nested path: the target runs inside the source's run
                    parent = src.span.span_id
            else:
                ancestor = getattr(agent, "parent_agent", None)
                while ancestor is not None:
                    open_ = run.agent(getattr(ancestor, "name", None))
                    if open_ is not None:
                        parent = open_.span.span_id
                        break
                    ancestor = getattr(ancestor, "parent_agent", None)
        for src in finished:
            self._finish_model(run, src.name)
            src.span.end(end_ns=_epoch(src.span, src.last_ns))
        identity = _identity(name, source)
        attrs: dict[str, Any] = {"google_adk.agent.type": type(agent).__name__}
        description = getattr(agent, "description", None)
        if isinstance(description, str) and description:
            attrs["gen_ai.agent.description"] = description[:1000]
        if source:
            attrs["google_adk.transfer_from"] = source
        span = start_span(f"invoke_agent {name}", operation_type="agent", session_id=run.session,
                          trace_id=run.trace, parent_span_id=parent, agent=identity, attributes=attrs,
                          inherit_context=False)
        entry = _Agent(span, name, identity, parent)
        with self.lock:
            run.agents.setdefault(name, []).append(entry)

    def end_agent(self, agent: Any, ctx: Any, error: BaseException | None = None) -> None:
        run = self._find(ctx)
        if run is None:
            return
        name = str(getattr(agent, "name", None) or getattr(ctx, "agent_name", "") or "agent")
        self._finish_model(run, name)
        with self.lock:
            stack = run.agents.get(name)
            entry = stack.pop() if stack else None
            if stack is not None and not stack:
                del run.agents[name]
        if entry is None:
            return
        entry.span.end(error=error)
        parent = self._owner_of(run, entry.parent)
        if parent is not None:
            parent.touch()

    def _owner_of(self, run: _Run, span_id: str) -> _Agent | None:
        with self.lock:
            for stack in run.agents.values():
                for entry in stack:
                    if entry.span.span_id == span_id:
                        return entry
        return None

    # -- model calls -----------------------------------------------------------------------------
    def start_model(self, ctx: Any, llm_request: Any) -> None:
        run = self._run(ctx)
        name = str(getattr(ctx, "agent_name", "") or "")
        self._finish_model(run, name)  # one still open here got no more responses
        agent = run.agent(name)
        model = getattr(llm_request, "model", None)
        model = model if isinstance(model, str) and model else None
        provider = _provider(getattr(_invocation(ctx), "agent", None), model)
        attrs: dict[str, Any] = {}
        labels = getattr(getattr(llm_request, "config", None), "labels", None)
        if isinstance(labels, dict) and labels.get("adk_agent_name"):
            attrs["google_adk.agent_label"] = labels["adk_agent_name"]
        span = start_span(f"chat {model}" if model else "chat", operation_type="chat", session_id=run.session,
                          trace_id=run.trace, parent_span_id=agent.span.span_id if agent else run.span.span_id,
                          agent=agent.identity if agent else _identity(name), model=model, provider=provider,
                          attributes=attrs, inherit_context=False)
        entry = _Model(span, agent)
        if self._capture():
            span.capture_content = True
            entry.input = _request_text(llm_request)
        with self.lock:
            run.models[name] = entry
        # The request goes out in this context: SDK patches (instrument_anthropic() under ADK's
        # Claude model, instrument_openai() under LiteLLM) must not record it a second time.
        cm = suppress_instrumentation()
        cm.__enter__()
        entry.suppression = cm

    def model_response(self, ctx: Any, llm_response: Any) -> None:
        run = self._find(ctx)
        if run is None:
            return
        name = str(getattr(ctx, "agent_name", "") or "")
        with self.lock:
            entry = run.models.get(name)
        if entry is None:
            return
        now = time.perf_counter_ns()
        if entry.first_ns is None:
            entry.first_ns = now
        entry.last_ns = now
        meta = getattr(llm_response, "usage_metadata", None)
        if meta is not None:
            entry.usage = meta
        version = getattr(llm_response, "model_version", None)
        if isinstance(version, str) and version:
            entry.model = version
        if getattr(llm_response, "partial", None) is True:
            return
        entry.responses += 1
        reason = getattr(llm_response, "finish_reason", None)
        if reason is not None:
            entry.finish = str(getattr(reason, "value", reason))
        if entry.input is not None or entry.span.capture_content:
            text = _text_of(getattr(llm_response, "content", None))
            if text:
                entry.output.append(text)
        _exit(entry.suppression)
        entry.suppression = None
        # Not ended yet: with progressive SSE streaming off ADK passes a text-and-function-call
        # stream on as two complete responses; the call ends at the agent's next step.

    def model_error(self, ctx: Any, error: BaseException) -> None:
        run = self._find(ctx)
        if run is None:
            return
        name = str(getattr(ctx, "agent_name", "") or "")
        with self.lock:
            entry = run.models.pop(name, None)
        if entry is None:
            return
        _exit(entry.suppression)
        entry.responses = max(entry.responses, 1)
        entry.last_ns = time.perf_counter_ns()
        self._end_model(entry, error)

    def _finish_model(self, run: _Run, name: str) -> None:
        with self.lock:
            entry = run.models.pop(name, None)
        if entry is None:
            return
        _exit(entry.suppression)
        if entry.responses == 0 and entry.first_ns is None:
            # No response reached the plugins: a later plugin or agent callback answered instead
            # of the model, so no request went out (a cancelled request is not seen either).
            return
        self._end_model(entry, None)

    def _end_model(self, entry: _Model, error: BaseException | None) -> None:
        span = entry.span
        attrs: dict[str, Any] = {}
        if entry.finish:
            attrs["finish_reason"] = entry.finish
        if entry.model and span.model is None:  # the response's model_version: what answered
            span.operation_name = f"chat {entry.model}"
        if entry.first_ns is not None and entry.first_ns != entry.last_ns:
            attrs["time_to_first_token_ms"] = round((entry.first_ns - span.t0) / 1e6, 3)
        span.end(error=error, usage=usage_from(entry.usage), model=span.model or entry.model,
                 response_model=entry.model, attributes=attrs,
                 input_content=entry.input, output_content="".join(entry.output) or None,
                 end_ns=_epoch(span, entry.last_ns))
        if entry.agent is not None:
            entry.agent.last_ns = max(entry.agent.last_ns, entry.last_ns)

    # -- tools ---------------------------------------------------------------------------------
    def start_tool(self, tool: Any, tool_args: Any, ctx: Any) -> None:
        run = self._run(ctx)
        name = str(getattr(ctx, "agent_name", "") or "")
        self._finish_model(run, name)  # the response that asked for this tool is complete
        agent = run.agent(name)
        tool_name = str(getattr(tool, "name", None) or type(tool).__name__)
        call_id = str(getattr(ctx, "function_call_id", None) or id(tool))
        attrs: dict[str, Any] = {"gen_ai.tool.name": tool_name, "gen_ai.tool.call.id": call_id,
                                 "google_adk.tool.type": type(tool).__name__}
        if tool_name == TRANSFER_TOOL:
            target = tool_args.get("agent_name") if isinstance(tool_args, dict) else None
            op, op_name = "handoff", f"transfer_to_agent {target or ''}".rstrip()
            attrs["google_adk.from_agent"] = name
            if target:
                attrs["google_adk.to_agent"] = target
        else:
            op, op_name = "tool", f"execute_tool {tool_name}"
        span = start_span(op_name, operation_type=op, session_id=run.session, trace_id=run.trace,
                          parent_span_id=agent.span.span_id if agent else run.span.span_id,
                          agent=agent.identity if agent else _identity(name), attributes=attrs,
                          inherit_context=False)
        entry = _Tool(span, agent)
        if self._capture():
            span.capture_content = True
            entry.input = str(tool_args)[:_MAX_TEXT]
        with self.lock:
            run.tools[call_id] = entry
        # ADK runs each tool call in a task of its own: what the tool does nests under this span.
        activation = span.activate()
        activation.__enter__()
        entry.activation = activation

    def end_tool(self, tool: Any, ctx: Any, result: Any = None, error: BaseException | None = None) -> None:
        run = self._find(ctx)
        if run is None:
            return
        call_id = str(getattr(ctx, "function_call_id", None) or id(tool))
        with self.lock:
            entry = run.tools.pop(call_id, None)
        if entry is None:
            return
        _exit(entry.activation)
        attrs: dict[str, Any] = {}
        if getattr(tool, "name", None) == TRANSFER_TOOL and error is None:
            target = getattr(getattr(ctx, "actions", None), "transfer_to_agent", None)
            source = str(getattr(ctx, "agent_name", "") or "")
            if isinstance(target, str) and target:
                attrs["google_adk.to_agent"] = target
                with self.lock:
                    run.handoffs[target] = source
        output = str(result)[:_MAX_TEXT] if entry.input is not None and result is not None else None
        entry.span.end(error=error, attributes=attrs or None, input_content=entry.input, output_content=output)
        if entry.agent is not None:
            entry.agent.touch()
