"""The PydanticAI capability that records agent runs, model requests and tool executions.

Imported only once PydanticAI is wanted (it subclasses ``AbstractCapability``). The ``wrap_*``
hooks are used rather than ``before_*`` / ``after_*`` pairs because they run around the work in
its own context: a span made current there parents everything the work starts (a delegate agent
run inside a tool included), and the OpenAI SDK patch is suppressed for exactly the model request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llamonitor.context import get_current_agent
from llamonitor.instrumentation.adapter import capture_enabled
from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.tracing import Span, start_span, suppress_instrumentation
from pydantic_ai import exceptions as _exc
from pydantic_ai.capabilities import AbstractCapability, CapabilityOrdering
from pydantic_ai.models.wrapper import WrapperModel

from llamonitor_pydantic_ai import FRAMEWORK, _adapter

if TYPE_CHECKING:
    from llamonitor_pydantic_ai import PydanticAIAdapter

_adapter.check_version()  # LlamonitorCapability used without instrument_pydantic_ai() is checked too

#: a tool call that ended this way did not fail: it was skipped or deferred (approval, external run)
_NOT_FAILED: dict[type[BaseException], str] = {}
for _name, _outcome in (("SkipToolExecution", "skipped"), ("CallDeferred", "deferred"),
                        ("ApprovalRequired", "deferred")):
    _cls = getattr(_exc, _name, None)
    if isinstance(_cls, type):
        _NOT_FAILED[_cls] = _outcome
#: a model request another capability skipped: no provider request, no event
_SKIPPED_REQUEST: tuple[type[BaseException], ...] = tuple(
    c for c in (getattr(_exc, "SkipModelRequest", None),) if isinstance(c, type))
_MAX_CONTENT = 100_000


@dataclass
class LlamonitorCapability(AbstractCapability[Any]):
    """Records each agent run, model request and tool execution of the agent it is attached to.

    ``instrument_pydantic_ai()`` attaches one to every run; attach it yourself to record chosen
    agents only: ``Agent(..., capabilities=[LlamonitorCapability()])``. ``capture_content``
    forces storing prompts / outputs (``True``) or not (``False``); ``None`` follows
    ``MonitorConfig.capture_content``. Stateless: one instance may serve any number of agents
    and concurrent runs.
    """

    capture_content: bool | None = None
    #: the adapter whose options apply (set by ``instrument_pydantic_ai``)
    adapter: PydanticAIAdapter | None = None

    @classmethod
    def get_serialization_name(cls) -> str | None:
        """Not loadable from agent spec files (it carries no configuration worth serialising)."""
        return None

    def get_ordering(self) -> CapabilityOrdering:
        """Outermost, like PydanticAI's own ``Instrumentation``: the spans cover every other capability's work."""
        return CapabilityOrdering(position="outermost")

    def _capture(self) -> bool:
        if self.adapter is not None and self.capture_content is None:
            return self.adapter.capture()
        return capture_enabled(self.capture_content)

    # -- agent run -----------------------------------------------------------------------------

    async def wrap_run(self, ctx: Any, *, handler: Any, **kwargs: Any) -> Any:
        """One ``agent`` event per run; the span is current while the run's body executes."""
        span = self._start_run(ctx)
        if span is None:
            return await handler()
        try:
            with span.activate():
                result = await handler()
        except BaseException as exc:
            _end(span, error=exc)
            raise
        try:
            output = _text(getattr(result, "output", None)) if self._capture() else None
            span.end(output_content=output)
        except Exception as exc:
            _adapter.report(exc)
            span.end()
        return result

    def _start_run(self, ctx: Any) -> Span | None:
        try:
            agent = getattr(ctx, "agent", None)
            name = getattr(agent, "name", None) or "agent"
            outer = get_current_agent()
            # Started while another agent works (from one of its tools, usually): a delegation.
            handoff = outer.agent_name if outer is not None and outer.agent_name and outer.agent_name != name \
                else None
            identity = AgentIdentity(framework=FRAMEWORK, agent_name=name, agent_role=name, handoff_from=handoff)
            attrs: dict[str, Any] = {"gen_ai.agent.name": name}
            for key, attr in (("pydantic_ai.run_id", "run_id"), ("gen_ai.conversation.id", "conversation_id")):
                value = getattr(ctx, attr, None)
                if value:
                    attrs[key] = value
            capture = self._capture()
            span = start_span(f"invoke_agent {name}", operation_type="agent", agent=identity, attributes=attrs,
                              capture_content=capture)
            if capture:
                span.extra["input_content"] = _text(getattr(ctx, "prompt", None))
            return span
        except Exception as exc:
            _adapter.report(exc)
            return None

    # -- model request -------------------------------------------------------------------------

    async def wrap_model_request(self, ctx: Any, *, request_context: Any, handler: Any, **kwargs: Any) -> Any:
        """One ``chat`` event per model request, with the provider's usage; SDK patches stay quiet inside."""
        span = self._start_request(request_context)
        swapped = _suppress_stream_opening(request_context)
        try:
            with suppress_instrumentation():
                if span is None:
                    return await handler(request_context)
                with span.activate():
                    response = await handler(request_context)
        except _SKIPPED_REQUEST:
            raise  # no request was made: the span is dropped unended
        except BaseException as exc:
            if span is not None:
                _end(span, error=exc)
            raise
        finally:
            if swapped is not None and request_context.model is swapped:
                request_context.model = swapped.wrapped
        try:
            _end_request(span, response, self._capture())
        except Exception as exc:
            _adapter.report(exc)
            span.end()
        return response

    def _start_request(self, request_context: Any) -> Span | None:
        try:
            model = getattr(request_context, "model", None)
            model_name = getattr(model, "model_name", None)
            provider = getattr(model, "system", None)
            attrs: dict[str, Any] = {}
            if getattr(request_context, "streaming", False):
                attrs["gen_ai.request.stream"] = True
            capture = self._capture()
            span = start_span(f"chat {model_name}" if model_name else "chat", operation_type="chat",
                              model=model_name, provider=provider, attributes=attrs, capture_content=capture)
            if capture:
                span.extra["input_content"] = _request_text(getattr(request_context, "messages", None))
            return span
        except Exception as exc:
            _adapter.report(exc)
            return None

    # -- tool execution ------------------------------------------------------------------------

    async def wrap_tool_execute(self, ctx: Any, *, call: Any, tool_def: Any, args: Any, handler: Any,
                                **kwargs: Any) -> Any:
        """One ``tool`` event per execution; the span parents what the tool starts (delegate agents)."""
        span = self._start_tool(call, args)
        if span is None:
            return await handler(args)
        try:
            with span.activate():
                result = await handler(args)
        except BaseException as exc:
            outcome = next((o for cls, o in _NOT_FAILED.items() if isinstance(exc, cls)), None)
            if outcome is not None:
                _end(span, attributes={"pydantic_ai.tool_outcome": outcome})
            else:
                _end(span, error=exc)
            raise
        try:
            span.end(output_content=_text(result) if self._capture() else None)
        except Exception as exc:
            _adapter.report(exc)
            span.end()
        return result

    def _start_tool(self, call: Any, args: Any) -> Span | None:
        try:
            name = getattr(call, "tool_name", None) or "tool"
            attrs: dict[str, Any] = {"gen_ai.tool.name": name}
            call_id = getattr(call, "tool_call_id", None)
            if call_id:
                attrs["gen_ai.tool.call.id"] = call_id
            capture = self._capture()
            span = start_span(f"execute_tool {name}", operation_type="tool", attributes=attrs,
                              capture_content=capture)
            if capture:
                span.extra["input_content"] = _text(args)
            return span
        except Exception as exc:
            _adapter.report(exc)
            return None


class _QuietStreamModel(WrapperModel):
    """Opens the wrapped model's stream with SDK-level instrumentation suppressed.

    PydanticAI opens a streamed request lazily, in the task that consumes the stream, not in the
    task running ``wrap_model_request``: the suppression set there does not reach it. Wrapping the
    request's model (as PydanticAI's durable-execution capabilities do) suppresses exactly the
    request, and nothing else the consumer does.
    """

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        with suppress_instrumentation():
            return await self.wrapped.request(*args, **kwargs)

    @asynccontextmanager
    async def request_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async with AsyncExitStack() as stack:
            with suppress_instrumentation():  # the HTTP request is sent when the stream is opened
                stream = await stack.enter_async_context(self.wrapped.request_stream(*args, **kwargs))
            yield stream


def _suppress_stream_opening(request_context: Any) -> _QuietStreamModel | None:
    """For a streamed request, swap in :class:`_QuietStreamModel` (returned, to be swapped back)."""
    # A plain request runs inside the hook, where the suppression around it is enough. Releases
    # before ``ModelRequestContext.streaming`` existed cannot tell: every request is wrapped there.
    if not getattr(request_context, "streaming", True):
        return None
    try:
        model = request_context.model
        if isinstance(model, _QuietStreamModel):
            return None
        quiet = _QuietStreamModel(model)
        request_context.model = quiet
        return quiet
    except Exception as exc:
        _adapter.report(exc)
        return None


def agent_has_llamonitor(agent: Any, given: Sequence[Any] | None) -> bool:
    """Whether a run already records itself: a :class:`LlamonitorCapability` on the agent or in ``given``."""
    if given and any(isinstance(c, LlamonitorCapability) for c in given):
        return True
    root = getattr(agent, "root_capability", None)
    if root is None:
        return False
    found: list[bool] = []
    root.apply(lambda c: found.append(True) if isinstance(c, LlamonitorCapability) else None)
    return bool(found)


def _end(span: Span, *, error: BaseException | None = None, attributes: dict[str, Any] | None = None) -> None:
    try:
        span.end(error=error, attributes=attributes)
    except Exception as exc:  # Span.end does not raise; belt and braces for the user's exception path
        _adapter.report(exc)


def _end_request(span: Span, response: Any, capture: bool) -> None:
    model = getattr(response, "model_name", None)
    attrs: dict[str, Any] = {}
    response_id = getattr(response, "provider_response_id", None)
    if response_id:
        attrs["response_id"] = response_id
    finish = getattr(response, "finish_reason", None)
    if finish:
        attrs["gen_ai.response.finish_reasons"] = [finish]
    if model and span.operation_name == "chat":
        span.operation_name = f"chat {model}"
    # model: the model asked for (the span's); the response's model_name is what answered
    answered = model if isinstance(model, str) and model else None
    span.end(usage=_usage(getattr(response, "usage", None)), model=span.model or answered, response_model=answered,
             provider=getattr(response, "provider_name", None), attributes=attrs or None,
             output_content=_response_text(response) if capture else None)


def _usage(raw: Any) -> TokenUsage | None:
    """The usage the provider reported (PydanticAI's ``RequestUsage``); ``None`` when it reported none."""
    if raw is None:
        return None
    inp = getattr(raw, "input_tokens", None)
    out = getattr(raw, "output_tokens", None)
    if not isinstance(inp, int) or not isinstance(out, int) or (inp == 0 and out == 0):
        return None  # an all-zero RequestUsage is PydanticAI's "the provider sent no usage"
    cached = getattr(raw, "cache_read_tokens", None)
    details = getattr(raw, "details", None) or {}
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=inp + out,
                      cached_input_tokens=cached if isinstance(cached, int) and cached else None,
                      reasoning_tokens=reasoning if isinstance(reasoning, int) and reasoning else None,
                      source="provider")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except Exception:
            text = repr(value)
    return text[:_MAX_CONTENT]


def _request_text(messages: Any) -> str | None:
    """The newest request's text parts (user prompt, tool returns): what this request adds."""
    if not messages:
        return None
    parts = getattr(messages[-1], "parts", None) or ()
    texts = [_text(getattr(p, "content", None)) for p in parts]
    joined = "\n".join(t for t in texts if t)
    return joined[:_MAX_CONTENT] or None


def _response_text(response: Any) -> str | None:
    out: list[str] = []
    for part in getattr(response, "parts", None) or ():
        content = getattr(part, "content", None)
        if isinstance(content, str):
            out.append(content)
        elif getattr(part, "tool_name", None):
            out.append(f"[tool call] {part.tool_name}({_text(getattr(part, 'args', None)) or ''})")
    joined = "\n".join(out)
    return joined[:_MAX_CONTENT] or None
