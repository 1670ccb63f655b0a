"""AG2 0.x (classic ``import autogen``) instrumentation.

What is hooked, and why:

* AG2 runtime logging (``autogen.runtime_logging.start(logger=...)``) with a logger of ours:
  ``log_chat_completion`` gives, for every underlying request, the source agent, the request,
  the response (usage), AG2's cost and the request's start time. Each becomes one ``chat`` event
  with ``AgentIdentity(framework="ag2", agent_name=<source agent>)``. A runtime logger the user
  started before is kept: ours forwards every call to it.
* ``OpenAIWrapper.create`` runs under :func:`~llamonitor.tracing.suppress_instrumentation`, so
  ``instrument_openai()`` does not record the same requests again.
* ``ConversableAgent.initiate_chat`` / ``a_initiate_chat``: one ``agent_chat`` span per chat, active
  while it runs, so the chat's LLM and handoff events share its trace.
* ``ConversableAgent._process_message_before_send`` (the dispatcher of the
  ``process_message_before_send`` hooks, so it covers agents created before instrumenting):
  every message an agent sends to another agent is a ``handoff`` event
  (``agent_name`` = recipient, ``handoff_from`` = sender). In a GroupChat, the manager's
  broadcast copies are skipped and a speaker's message to the manager is recorded as a handoff
  from the previous speaker (so handoffs follow the order of turns).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from llamonitor import clock
from llamonitor.context import get_current_span_id
from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.tracing import Span, start_span, suppress_instrumentation

FRAMEWORK = "ag2"


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.enabled = False
        self.patches: list[tuple[Any, str, Any]] = []
        self.logger: Any = None
        self.previous_logger: Any = None
        self.previous_logging = False
        #: id(group chat manager) -> name of the previous speaker
        self.last_speaker: dict[int, str] = {}
        #: id(agent) -> the chat span it takes part in (AG2 runs async replies on an executor
        #: thread, where context variables do not follow)
        self.agent_chat: dict[int, Span] = {}


_state = _State()


def _warn(exc: BaseException) -> None:
    from llamonitor_autogen import _adapter  # the package's one adapter: one logger, one warn-once set

    _adapter.report(exc, "ag2")


def _content(request: Any, response: Any) -> tuple[str | None, str | None]:
    """Prompt and completion of an AG2 chat completion, when content capture is on."""
    from llamonitor_autogen import _adapter

    if not _adapter.capture():
        return None, None
    prompt = None
    messages = request.get("messages") if isinstance(request, dict) else None
    if isinstance(messages, list):
        prompt = "\n".join(f"{m.get('name') or m.get('role', 'message')}: {m.get('content', '')}"
                           if isinstance(m, dict) else str(m) for m in messages)
    output = None
    choices = getattr(response, "choices", None)
    if choices:
        content = getattr(getattr(choices[0], "message", None), "content", None)
        output = content if isinstance(content, str) else None
    return prompt, output


def _name(agent: Any) -> str | None:
    if agent is None:
        return None
    if isinstance(agent, str):
        return agent
    name = getattr(agent, "name", None)
    return str(name) if name is not None else None


def _parse_ts(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(dt.timestamp() * 1_000_000) * 1000


def _record_completion(source: Any, request: Any, response: Any, is_cached: int, cost: float,
                       start_time: Any) -> None:
    model = request.get("model") if isinstance(request, dict) else None
    agent_name = _name(source)
    agent = AgentIdentity(framework=FRAMEWORK, agent_name=agent_name, agent_id=agent_name) if agent_name else None
    attrs: dict[str, Any] = {}
    if cost:
        attrs["ag2.cost_usd"] = float(cost)
    if is_cached:
        attrs["ag2.cached"] = True
    trace_id = parent_id = None
    if get_current_span_id() is None and source is not None and not isinstance(source, str):
        chat = _state.agent_chat.get(id(source))
        if chat is not None:
            trace_id, parent_id = chat.trace_id, chat.span_id
    span = start_span(f"chat {model}" if model else "chat", operation_type="chat", model=model, agent=agent,
                      provider="openai", attributes=attrs, trace_id=trace_id, parent_span_id=parent_id)
    # AG2 stamps the request with its wall clock; llamonitor's spans share one time line (clock.py)
    start_ns = _parse_ts(start_time)
    if start_ns is not None:
        start_ns = clock.from_wall(start_ns)
    end_ns = clock.now_ns()
    if start_ns is not None and start_ns <= end_ns:
        span.start_ns = start_ns
    usage = None
    error = None
    answered: str | None = None
    if isinstance(response, str):
        error = RuntimeError(response)  # AG2 logs failed requests as "error_code:..., config i failed"
    else:
        u = getattr(response, "usage", None)
        if u is not None:
            details = getattr(u, "prompt_tokens_details", None)
            out_details = getattr(u, "completion_tokens_details", None)
            usage = TokenUsage(input_tokens=getattr(u, "prompt_tokens", None),
                               output_tokens=getattr(u, "completion_tokens", None),
                               total_tokens=getattr(u, "total_tokens", None),
                               cached_input_tokens=getattr(details, "cached_tokens", None),
                               reasoning_tokens=getattr(out_details, "reasoning_tokens", None), source="provider")
        resp_model = getattr(response, "model", None)
        if resp_model:
            answered = str(resp_model)
    prompt, output = _content(request, response) if error is None else (None, None)
    # model: the client config's (asked for); the response's model is what answered
    span.end(usage=usage, model=model or answered, response_model=answered, error=error,
             end_ns=end_ns if start_ns is not None else None, input_content=prompt, output_content=output)


def _make_logger() -> Any:
    from autogen.logger.base_logger import BaseLogger

    class LlamonitorLogger(BaseLogger):
        """AG2 runtime logger recording chat completions (and forwarding to a previous logger)."""

        def __init__(self, inner: Any = None) -> None:
            self.inner = inner

        def _forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
            if self.inner is not None:
                try:
                    return getattr(self.inner, method)(*args, **kwargs)
                except Exception as exc:
                    _warn(exc)
            return None

        def start(self) -> str:
            result = self._forward("start")
            return str(result) if result is not None else "llamonitor"

        def log_chat_completion(self, invocation_id: Any, client_id: int, wrapper_id: int, source: Any,
                                request: Any, response: Any, is_cached: int, cost: float, start_time: str) -> None:
            self._forward("log_chat_completion", invocation_id, client_id, wrapper_id, source, request, response,
                          is_cached, cost, start_time)
            if _state.enabled:
                try:
                    _record_completion(source, request, response, is_cached, cost, start_time)
                except Exception as exc:
                    _warn(exc)

        def log_new_agent(self, agent: Any, init_args: Any) -> None:
            self._forward("log_new_agent", agent, init_args)

        def log_event(self, source: Any, name: str, **kwargs: Any) -> None:
            self._forward("log_event", source, name, **kwargs)

        def log_new_wrapper(self, wrapper: Any, init_args: Any) -> None:
            self._forward("log_new_wrapper", wrapper, init_args)

        def log_new_client(self, client: Any, wrapper: Any, init_args: Any) -> None:
            self._forward("log_new_client", client, wrapper, init_args)

        def log_function_use(self, source: Any, function: Any, args: Any, returns: Any) -> None:
            self._forward("log_function_use", source, function, args, returns)

        def stop(self) -> None:
            self._forward("stop")

        def get_connection(self) -> Any:
            return self._forward("get_connection")

    return LlamonitorLogger


# ---- patches -----------------------------------------------------------------------------------

def _patch(owner: Any, name: str, wrapper: Any) -> None:
    original = owner.__dict__[name]
    setattr(owner, name, wrapper)
    _state.patches.append((owner, name, original))


def _wrap_wrapper_create(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _state.enabled:
            return original(self, *args, **kwargs)
        with suppress_instrumentation():
            return original(self, *args, **kwargs)

    return create


def _chat_span(sender: Any, recipient: Any) -> Span | None:
    try:
        with _state.lock:
            _state.last_speaker.pop(id(recipient), None)  # a new (group) chat starts
        name = _name(sender)
        span = start_span(f"ag2.chat {name} -> {_name(recipient)}", operation_type="agent_chat",
                          agent=AgentIdentity(framework=FRAMEWORK, agent_name=name, agent_id=name),
                          attributes={"ag2.recipient": _name(recipient)})
        members = [sender, recipient, *getattr(getattr(recipient, "groupchat", None), "agents", [])]
        with _state.lock:
            for member in members:
                _state.agent_chat.setdefault(id(member), span)
        return span
    except Exception as exc:
        _warn(exc)
        return None


def _end_chat(span: Span, error: BaseException | None = None) -> None:
    with _state.lock:
        for key in [k for k, v in _state.agent_chat.items() if v is span]:
            del _state.agent_chat[key]
    span.end(error=error)


def _wrap_initiate_chat(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def initiate_chat(self: Any, recipient: Any, *args: Any, **kwargs: Any) -> Any:
        if not _state.enabled:
            return original(self, recipient, *args, **kwargs)
        span = _chat_span(self, recipient)
        if span is None:
            return original(self, recipient, *args, **kwargs)
        try:
            with span.activate():
                result = original(self, recipient, *args, **kwargs)
        except Exception as exc:
            _end_chat(span, exc)
            raise
        _end_chat(span)
        return result

    return initiate_chat


def _wrap_a_initiate_chat(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def a_initiate_chat(self: Any, recipient: Any, *args: Any, **kwargs: Any) -> Any:
        if not _state.enabled:
            return await original(self, recipient, *args, **kwargs)
        span = _chat_span(self, recipient)
        if span is None:
            return await original(self, recipient, *args, **kwargs)
        try:
            with span.activate():
                result = await original(self, recipient, *args, **kwargs)
        except Exception as exc:
            _end_chat(span, exc)
            raise
        _end_chat(span)
        return result

    return a_initiate_chat


def _record_handoff(sender: Any, recipient: Any, message: Any) -> None:
    from autogen.agentchat.groupchat import GroupChatManager

    if isinstance(sender, GroupChatManager):
        return  # the manager's broadcast copies of a turn
    source = _name(sender)
    if isinstance(recipient, GroupChatManager):
        with _state.lock:
            previous = _state.last_speaker.get(id(recipient))
            _state.last_speaker[id(recipient)] = source or ""
        target, source = source, previous
        kind = "group_turn"
        if source is None or source == target:
            return
    else:
        target = _name(recipient)
        kind = "direct"
    span = start_span(f"ag2.handoff {source} -> {target}", operation_type="handoff",
                      agent=AgentIdentity(framework=FRAMEWORK, agent_name=target, agent_id=target,
                                          handoff_from=source),
                      attributes={"ag2.handoff_kind": kind})
    span.end()


def _wrap_before_send(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def process_message_before_send(self: Any, message: Any, recipient: Any, silent: bool) -> Any:
        result = original(self, message, recipient, silent)
        if _state.enabled:
            try:
                _record_handoff(self, recipient, result)
            except Exception as exc:
                _warn(exc)
        return result

    return process_message_before_send


def instrument() -> None:
    """Start AG2 runtime logging into llamonitor and patch the hooks (see the module docstring)."""
    import autogen.runtime_logging as runtime_logging
    from autogen.agentchat.conversable_agent import ConversableAgent
    from autogen.oai.client import OpenAIWrapper

    with _state.lock:
        if _state.enabled:
            return
        if not _state.patches:
            _patch(OpenAIWrapper, "create", _wrap_wrapper_create(OpenAIWrapper.__dict__["create"]))
            _patch(ConversableAgent, "initiate_chat", _wrap_initiate_chat(ConversableAgent.__dict__["initiate_chat"]))
            _patch(ConversableAgent, "a_initiate_chat",
                   _wrap_a_initiate_chat(ConversableAgent.__dict__["a_initiate_chat"]))
            _patch(ConversableAgent, "_process_message_before_send",
                   _wrap_before_send(ConversableAgent.__dict__["_process_message_before_send"]))
        _state.previous_logger = runtime_logging.autogen_logger if runtime_logging.is_logging else None
        _state.previous_logging = bool(runtime_logging.is_logging)
        _state.logger = _make_logger()(_state.previous_logger)
        _state.enabled = True
    runtime_logging.start(logger=_state.logger)


def uninstrument() -> None:
    """Undo :func:`instrument`; a runtime logger the user had started is put back."""
    with _state.lock:
        if not _state.enabled and not _state.patches:
            return
        _state.enabled = False
        for owner, name, original in reversed(_state.patches):
            setattr(owner, name, original)
        _state.patches.clear()
        _state.last_speaker.clear()
        _state.agent_chat.clear()
        logger, previous, was_logging = _state.logger, _state.previous_logger, _state.previous_logging
        _state.logger = _state.previous_logger = None
    try:
        import autogen.runtime_logging as runtime_logging

        if runtime_logging.autogen_logger is logger:
            runtime_logging.autogen_logger = previous
            runtime_logging.is_logging = was_logging
    except Exception as exc:
        _warn(exc)


def is_instrumented() -> bool:
    """Whether the AG2 hooks are active."""
    return _state.enabled
