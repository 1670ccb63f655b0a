"""autogen-agentchat (>= 0.7) / autogen-core instrumentation.

What is hooked, and why:

* ``BaseGroupChat.run_stream`` (``run`` goes through it): one ``team`` span per run, active while
  the run lasts, so the team's embedded runtime (started inside the run) and every agent turn
  inherit its trace.
* ``ChatAgentContainer.handle_request``: one ``agent`` span per turn of a participant, with
  ``AgentIdentity(framework="autogen", agent_name=<participant name>, agent_id=<runtime agent
  id>, handoff_from=<previous speaker of the same team>)``; the turn's LLM calls nest under it.
  In a Swarm the previous speaker is the agent whose ``HandoffMessage`` selected this one.
* ``BaseOpenAIChatCompletionClient.create`` / ``create_stream`` (OpenAI and Azure clients): one
  ``chat`` span per request, timed around the call, with the usage AutoGen returns. The OpenAI
  SDK call inside is run under :func:`~llamonitor.tracing.suppress_instrumentation`, so
  ``instrument_openai()`` does not record it a second time.
* The ``autogen_core`` event logger (``EVENT_LOGGER_NAME``): ``LLMCallEvent`` /
  ``LLMStreamEndEvent`` of any *other* model client (Anthropic, Ollama, ...) become ``chat``
  events carrying the emitting agent's id and the tokens AutoGen logged.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.tracing import Span, start_span, suppress_instrumentation

FRAMEWORK = "autogen"

#: set while one of our wrapped model-client calls runs (the logger then records nothing)
_in_client_call: contextvars.ContextVar[bool] = contextvars.ContextVar("llamonitor_autogen_call", default=False)
#: the current agent turn's identity (for the logger fallback)
_turn_agent: contextvars.ContextVar[AgentIdentity | None] = contextvars.ContextVar("llamonitor_autogen_agent",
                                                                                     default=None)


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.enabled = False
        self.patches: list[tuple[Any, str, Any]] = []
        self.handler: logging.Handler | None = None
        self.saved_level: int | None = None
        #: team key -> name of the last participant that took a turn
        self.last_speaker: dict[str, str] = {}


_state = _State()


def _warn(exc: BaseException) -> None:
    from llamonitor_autogen import _adapter  # the package's one adapter: one logger, one warn-once set

    _adapter.report(exc, "agentchat")


def _capture() -> bool:
    from llamonitor_autogen import _adapter

    return _adapter.capture()


def _messages_text(messages: Any) -> str | None:
    """autogen-core ``LLMMessage`` objects (or anything with ``content``) as ``source: content`` lines."""
    if not isinstance(messages, (list, tuple)):
        return None
    lines = []
    for msg in messages:
        content = getattr(msg, "content", msg)
        who = getattr(msg, "source", None) or type(msg).__name__.removesuffix("Message").lower()
        text = content if isinstance(content, str) else repr(content)
        lines.append(f"{who}: {text}")
    return "\n".join(lines)


def _agent_from_runtime() -> AgentIdentity | None:
    """Identity of the autogen-core agent handling the current message (name from the agent type)."""
    try:
        from autogen_core import MessageHandlerContext

        aid = MessageHandlerContext.agent_id()
    except Exception:
        return None
    name = aid.type
    suffix = f"_{aid.key}"
    if name.endswith(suffix):
        name = name[: -len(suffix)]
    return AgentIdentity(framework=FRAMEWORK, agent_id=f"{aid.type}/{aid.key}", agent_name=name)


def _patch(owner: Any, name: str, wrapper: Any) -> None:
    original = owner.__dict__[name]
    setattr(owner, name, wrapper)
    _state.patches.append((owner, name, original))


# ---- team runs ---------------------------------------------------------------------------------

def _wrap_run_stream(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def run_stream(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if not _state.enabled:
            async for item in original(self, *args, **kwargs):
                yield item
            return
        span: Span | None = None
        token = None
        try:
            team = type(self).__name__
            span = start_span(f"autogen.team {getattr(self, 'name', None) or team}", operation_type="team",
                              attributes={"autogen.team_type": team,
                                          "autogen.participants": [p.name for p in getattr(self, "_participants",
                                                                                            [])]})
            cm = span.activate()
            cm.__enter__()
            token = cm
            _state.last_speaker.pop(_team_key(self), None)
        except Exception as exc:
            _warn(exc)
        error: BaseException | None = None
        try:
            async for item in original(self, *args, **kwargs):
                yield item
        except BaseException as exc:
            error = exc
            raise
        finally:
            if token is not None:
                try:
                    token.__exit__(None, None, None)
                except Exception:
                    pass
            if span is not None:
                span.end(error=error if isinstance(error, Exception) else None)

    return run_stream


def _team_key(team: Any) -> str:
    """The key agent turns use (their container's parent topic: the team's group topic)."""
    return str(getattr(team, "_group_topic_type", id(team)))


# ---- agent turns -------------------------------------------------------------------------------

def _wrap_handle_request(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def handle_request(self: Any, message: Any, ctx: Any) -> Any:
        if not _state.enabled:
            return await original(self, message, ctx)
        span: Span | None = None
        cm: Any = None
        ident_token = None
        try:
            agent = self._agent
            name = str(getattr(agent, "name", None) or type(agent).__name__)
            team_key = str(getattr(self, "_parent_topic_type", ""))
            rid = getattr(self, "id", None)
            with _state.lock:
                prev = _state.last_speaker.get(team_key)
                _state.last_speaker[team_key] = name
            ident = AgentIdentity(framework=FRAMEWORK, agent_id=f"{rid.type}/{rid.key}" if rid is not None else None,
                                  agent_name=name, handoff_from=prev if prev and prev != name else None)
            attrs: dict[str, Any] = {"autogen.agent_type": type(agent).__name__}
            if ident.handoff_from:
                attrs["autogen.handoff_kind"] = "sequence"
            span = start_span(f"autogen.agent {name}", operation_type="agent", agent=ident, attributes=attrs)
            cm = span.activate()
            cm.__enter__()
            ident_token = _turn_agent.set(ident)
        except Exception as exc:
            _warn(exc)
        error: BaseException | None = None
        try:
            return await original(self, message, ctx)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if ident_token is not None:
                try:
                    _turn_agent.reset(ident_token)
                except Exception:
                    pass
            if cm is not None:
                try:
                    cm.__exit__(None, None, None)
                except Exception:
                    pass
            if span is not None:
                span.end(error=error if isinstance(error, Exception) else None)

    return handle_request


# ---- model client calls ------------------------------------------------------------------------

def _client_model(client: Any) -> str | None:
    args = getattr(client, "_create_args", None)
    model = args.get("model") if isinstance(args, dict) else None
    return str(model) if model else None


def _client_provider(client: Any) -> str:
    return "azure" if "Azure" in type(client).__name__ else "openai"


def _start_llm(client: Any, streaming: bool) -> Span:
    model = _client_model(client)
    agent = _turn_agent.get() or _agent_from_runtime()
    return start_span(f"chat {model}" if model else "chat", operation_type="chat", model=model,
                      provider=_client_provider(client), agent=agent,
                      attributes={"autogen.client": type(client).__name__, "stream": streaming})


def _end_llm(span: Span, result: Any, error: BaseException | None, prompt: str | None = None) -> None:
    usage = None
    output = None
    attrs: dict[str, Any] = {}
    if result is not None:
        u = getattr(result, "usage", None)
        if u is not None:
            inp, out = getattr(u, "prompt_tokens", None), getattr(u, "completion_tokens", None)
            usage = TokenUsage(input_tokens=inp, output_tokens=out,
                               total_tokens=(inp or 0) + (out or 0), source="provider")
        finish = getattr(result, "finish_reason", None)
        if finish:
            attrs["finish_reason"] = str(finish)
        if getattr(result, "cached", False):
            attrs["autogen.cached"] = True
        if prompt is not None:
            content = getattr(result, "content", None)
            output = content if isinstance(content, str) else (repr(content) if content is not None else None)
    span.end(error=error if isinstance(error, Exception) else None, usage=usage, attributes=attrs or None,
             input_content=prompt, output_content=output)


def _wrap_create(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _state.enabled or _in_client_call.get():
            return await original(self, *args, **kwargs)
        span: Span | None = None
        prompt = None
        try:
            span = _start_llm(self, False)
            if _capture():
                prompt = _messages_text(args[0] if args else kwargs.get("messages"))
        except Exception as exc:
            _warn(exc)
        token = _in_client_call.set(True)
        result = None
        error: BaseException | None = None
        try:
            with suppress_instrumentation():
                result = await original(self, *args, **kwargs)
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            _in_client_call.reset(token)
            if span is not None:
                try:
                    _end_llm(span, result, error, prompt)
                except Exception as exc:
                    _warn(exc)

    return create


def _wrap_create_stream(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create_stream(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if not _state.enabled or _in_client_call.get():
            async for item in original(self, *args, **kwargs):
                yield item
            return
        span: Span | None = None
        prompt = None
        try:
            span = _start_llm(self, True)
            if _capture():
                prompt = _messages_text(args[0] if args else kwargs.get("messages"))
        except Exception as exc:
            _warn(exc)
        gen = original(self, *args, **kwargs)
        result = None
        error: BaseException | None = None
        try:
            while True:
                token = _in_client_call.set(True)
                try:
                    with suppress_instrumentation():
                        item = await gen.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    _in_client_call.reset(token)
                if not isinstance(item, str):
                    result = item
                yield item
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                await gen.aclose()
            except Exception:
                pass
            if span is not None:
                try:
                    _end_llm(span, result, error, prompt)
                except Exception as exc:
                    _warn(exc)

    return create_stream


# ---- event logger fallback ---------------------------------------------------------------------

class _EventHandler(logging.Handler):
    """Records ``LLMCallEvent`` / ``LLMStreamEndEvent`` of model clients not wrapped above."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if not _state.enabled or _in_client_call.get():
                return
            msg = record.msg
            kwargs = getattr(msg, "kwargs", None)
            if not isinstance(kwargs, dict) or kwargs.get("type") not in ("LLMCall", "LLMStreamEnd"):
                return
            agent = _turn_agent.get() or _agent_from_runtime()
            response = kwargs.get("response")
            model = response.get("model") if isinstance(response, dict) else None
            inp, out = kwargs.get("prompt_tokens"), kwargs.get("completion_tokens")
            span = start_span(f"chat {model}" if model else "chat", operation_type="chat", model=model,
                              agent=agent, attributes={"autogen.source": "event_logger",
                                                       "autogen.event_agent_id": kwargs.get("agent_id")})
            # the logged response names only the model that answered (it stands in for the request's)
            span.end(usage=TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=(inp or 0) + (out or 0),
                                      source="provider"), response_model=model if isinstance(model, str) else None)
        except Exception as exc:
            _warn(exc)


def instrument() -> None:
    """Patch autogen-agentchat / autogen-core (see the module docstring)."""
    from autogen_agentchat.teams._group_chat._base_group_chat import BaseGroupChat
    from autogen_agentchat.teams._group_chat._chat_agent_container import ChatAgentContainer
    from autogen_core import EVENT_LOGGER_NAME

    with _state.lock:
        if _state.enabled:
            return
        if not _state.patches:
            _patch(BaseGroupChat, "run_stream", _wrap_run_stream(BaseGroupChat.__dict__["run_stream"]))
            _patch(ChatAgentContainer, "handle_request",
                   _wrap_handle_request(ChatAgentContainer.__dict__["handle_request"]))
            try:
                from autogen_ext.models.openai._openai_client import BaseOpenAIChatCompletionClient
            except ImportError:
                pass
            else:
                _patch(BaseOpenAIChatCompletionClient, "create",
                       _wrap_create(BaseOpenAIChatCompletionClient.__dict__["create"]))
                _patch(BaseOpenAIChatCompletionClient, "create_stream",
                       _wrap_create_stream(BaseOpenAIChatCompletionClient.__dict__["create_stream"]))
        if _state.handler is None:
            handler = _EventHandler(level=logging.DEBUG)
            logger = logging.getLogger(EVENT_LOGGER_NAME)
            logger.addHandler(handler)
            if logger.getEffectiveLevel() > logging.INFO:
                _state.saved_level = logger.level
                logger.setLevel(logging.INFO)
            _state.handler = handler
        _state.enabled = True


def uninstrument() -> None:
    """Undo :func:`instrument` (already-created team containers pass through)."""
    with _state.lock:
        _state.enabled = False
        for owner, name, original in reversed(_state.patches):
            setattr(owner, name, original)
        _state.patches.clear()
        _state.last_speaker.clear()
        if _state.handler is not None:
            try:
                from autogen_core import EVENT_LOGGER_NAME

                logger = logging.getLogger(EVENT_LOGGER_NAME)
                logger.removeHandler(_state.handler)
                if _state.saved_level is not None:
                    logger.setLevel(_state.saved_level)
                    _state.saved_level = None
            except Exception:
                pass
            _state.handler = None


def is_instrumented() -> bool:
    """Whether the agentchat hooks are active."""
    return _state.enabled
