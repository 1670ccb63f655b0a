"""Run state and the wrappers :mod:`llamonitor_smolagents` installs on smolagents.

Every wrapper lets the call through untouched when monitoring is off or when recording fails
(logged once through the adapter); the framework's result and exceptions reach the caller as
they are.

Why runs are also kept per agent object, not only in the context: smolagents hops threads
without copying :mod:`contextvars` (a ``CodeAgent``'s code runs on a fresh pool thread under
its execution timeout, since 1.24; parallel tool calls before 1.21). A tool or managed agent
called there finds its agent's run through the agents that are running now (the run whose agent
holds that tool / managed agent), so its event still carries the right agent, trace and parent.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llamonitor import clock
from llamonitor.instrumentation.streams import error_attributes
from llamonitor.instrumentation.usage import field
from llamonitor.instrumentation.usage import usage_from as usage_of
from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.tracing import Span, is_recording, start_span, suppress_instrumentation

if TYPE_CHECKING:
    from llamonitor_smolagents import SmolagentsAdapter

FRAMEWORK = "smolagents"
#: running agent runs kept at most (a stream nobody finished nor closed stays until collected)
_MAX_RUNS = 10_000
_TEXT_LIMIT = 64_000

#: model classes (walked along the MRO) -> provider; LiteLLM's is read from the model id
PROVIDERS: dict[str, str] = {
    "OpenAIModel": "openai", "OpenAIServerModel": "openai",
    "AzureOpenAIModel": "azure.ai.openai", "AzureOpenAIServerModel": "azure.ai.openai",
    "InferenceClientModel": "huggingface", "HfApiModel": "huggingface",
    "AmazonBedrockModel": "aws.bedrock", "AmazonBedrockServerModel": "aws.bedrock",
    "TransformersModel": "transformers", "VLLMModel": "vllm", "MLXModel": "mlx",
}
#: models that count tokens locally (their usage is a tokenizer count, not a provider's report)
_LOCAL = frozenset({"transformers", "vllm", "mlx"})


class _Run:
    """One ``agent.run(...)`` in progress."""

    __slots__ = ("agent", "exec_span", "identity", "seq", "span", "step", "steps", "task")

    def __init__(self, agent: Any, identity: AgentIdentity, span: Span, seq: int, task: Any) -> None:
        self.agent = agent
        self.identity = identity
        self.span = span
        self.seq = seq
        self.task = task
        #: the open step span (made when the step's first model / tool call needs a parent)
        self.step: Span | None = None
        #: the code execution in progress (CodeAgent), parent of the tools its code calls
        self.exec_span: Span | None = None
        self.steps = 0


_run_var: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("llamonitor_smol_run", default=None)
#: innermost tool / code execution / handoff span of ours in this context, with its run
_scope_var: contextvars.ContextVar[tuple[_Run, Span] | None] = contextvars.ContextVar("llamonitor_smol_scope",
                                                                                        default=None)
#: a managed agent being called: (that agent, the manager's name)
_handoff_var: contextvars.ContextVar[tuple[Any, str] | None] = contextvars.ContextVar("llamonitor_smol_handoff",
                                                                                       default=None)
#: inside a model call we record (a subclass's generate calling super().generate is one call)
_in_model: contextvars.ContextVar[bool] = contextvars.ContextVar("llamonitor_smol_model", default=False)
#: tool objects being recorded in this context (PipelineTool.__call__ -> Tool.__call__ is one call)
_in_tool: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar("llamonitor_smol_tool", default=())


def agent_name(agent: Any) -> str:
    """The agent's ``name``; an unnamed (top-level) agent goes by its class name."""
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else type(agent).__name__


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def provider_of(model: Any) -> str | None:
    """The provider of a smolagents model object (by its class, LiteLLM by the model id's prefix)."""
    for cls in type(model).__mro__:
        name = cls.__name__
        if name in PROVIDERS:
            return PROVIDERS[name]
        if name.startswith("LiteLLM"):
            model_id = getattr(model, "model_id", None)
            if isinstance(model_id, str) and "/" in model_id:
                return model_id.split("/", 1)[0]
            return None
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:_TEXT_LIMIT]


def _message_text(messages: Any) -> str | None:
    """``role: text`` lines of smolagents chat messages (ChatMessage objects or dicts)."""
    if not isinstance(messages, (list, tuple)):
        return _text(messages)
    lines: list[str] = []
    for m in messages:
        role = field(m, "role")
        role = getattr(role, "value", role)
        content = field(m, "content")
        if isinstance(content, list):
            content = "\n".join(str(field(part, "text")) for part in content if field(part, "text") is not None)
        lines.append(f"{role}: {content}")
    return _text("\n".join(lines))


class Recorder:
    """The wrappers (bound methods, given to wrapt) and the registry of running agents."""

    def __init__(self, adapter: SmolagentsAdapter) -> None:
        self.adapter = adapter
        self.enabled = False
        self.lock = threading.Lock()
        #: id(agent) -> its runs in progress (innermost last)
        self.running: dict[int, list[_Run]] = {}
        self._seq = itertools.count()

    # ------------------------------------------------------------------ helpers
    def _active(self) -> bool:
        return self.enabled and is_recording()

    def _capture(self) -> bool:
        return self.adapter.capture()

    def _child(self, run: _Run, parent: Span, name: str, op: str, *, model: str | None = None,
               provider: str | None = None, attributes: dict[str, Any] | None = None) -> Span:
        # Explicit ids: the caller may be on a thread smolagents started without our context.
        return start_span(name, operation_type=op, session_id=run.span.session, trace_id=run.span.trace_id,
                          parent_span_id=parent.span_id, agent=run.identity, model=model, provider=provider,
                          attributes=attributes, inherit_context=False,
                          capture_content=self.adapter.options.capture_content)

    def _step_span(self, run: _Run) -> Span:
        with self.lock:
            span = run.step
            if span is None:
                span = run.step = self._child(run, run.span, f"smolagents.step {run.steps + 1}", "agent_step")
            return span

    def _parent_in(self, run: _Run) -> Span:
        scope = _scope_var.get()
        if scope is not None and scope[0] is run:
            return scope[1]
        return run.exec_span or self._step_span(run)

    def _find(self, match: Callable[[_Run], bool]) -> _Run | None:
        """The most recently started running run that ``match`` accepts."""
        with self.lock:
            runs = [r for rs in self.running.values() for r in rs]
        best: _Run | None = None
        for r in runs:
            try:
                if (best is None or r.seq > best.seq) and match(r):
                    best = r
            except Exception:
                continue
        return best

    def _latest_run_of(self, agent: Any) -> _Run | None:
        with self.lock:
            runs = self.running.get(id(agent))
            if runs:
                return runs[-1] if runs[-1].agent is agent else None
        return None

    @contextmanager
    def _scope(self, run: _Run, span: Span) -> Iterator[None]:
        token = _scope_var.set((run, span))
        try:
            with span.activate():
                yield
        finally:
            try:
                _scope_var.reset(token)
            except ValueError:
                pass

    def _run_in(self, run: _Run, span: Span, wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                ending: Callable[[Any], dict[str, Any]] | None = None) -> Any:
        """Call ``wrapped`` inside ``span``; end the span with the error, or with ``ending(result)``
        (default: the result's text as output)."""
        try:
            with self._scope(run, span):
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            span.end(error=exc)
            raise
        try:
            if ending is not None:
                span.end(**ending(result))
            else:
                span.end(output_content=_text(result) if self._capture() else None)
        except Exception as exc:
            self.adapter.report(exc)
        return result

    def _action_ending(self, result: Any) -> dict[str, Any]:
        """How a CodeAgent action's span ends: its final-answer flag, its logs and output as text."""
        attrs = {"smolagents.final_answer": True} if getattr(result, "is_final_answer", False) else None
        output = None
        if self._capture():
            logs = getattr(result, "logs", None)
            output = _text(f"{logs or ''}{getattr(result, 'output', None)!r}")
        return {"attributes": attrs, "output_content": output}

    @contextmanager
    def _entered(self, run: _Run) -> Iterator[None]:
        tokens = (_run_var.set(run), _scope_var.set(None), _handoff_var.set(None))
        try:
            with run.span.activate():
                yield
        finally:
            for var, token in zip((_run_var, _scope_var, _handoff_var), tokens, strict=True):
                try:
                    var.reset(token)  # type: ignore[attr-defined]
                except ValueError:
                    pass

    # ------------------------------------------------------------------ runs
    def run_wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``MultiStepAgent.run``: one ``agent`` event around the whole run (or the stream of its steps)."""
        if not self._active():
            return wrapped(*args, **kwargs)
        outer = _run_var.get()
        if outer is not None and outer.agent is instance:  # a subclass's run() calling super().run()
            return wrapped(*args, **kwargs)
        try:
            run = self._begin_run(instance, args, kwargs, outer)
        except Exception as exc:
            self.adapter.report(exc)
            return wrapped(*args, **kwargs)
        try:
            with self._entered(run):
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            self._end_run(run, error=exc)
            raise
        stream = kwargs.get("stream", args[1] if len(args) > 1 else False)
        if stream is True and hasattr(result, "__next__") and hasattr(result, "close"):
            return self._stream_run(run, result)
        self._end_run(run, result=result)
        return result

    def _begin_run(self, agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any], outer: _Run | None) -> _Run:
        name = agent_name(agent)
        handoff = _handoff_var.get()
        if handoff is not None and handoff[0] is agent:
            source: str | None = handoff[1]  # a managed agent called by its manager
        elif outer is not None:
            source = outer.identity.agent_name  # an agent run from inside another agent's tool
        else:
            source = None
        identity = AgentIdentity(framework=FRAMEWORK, agent_name=name, agent_role=name, handoff_from=source)
        attrs: dict[str, Any] = {"smolagents.agent_class": type(agent).__name__}
        tools = getattr(agent, "tools", None)
        if isinstance(tools, dict) and tools:
            attrs["smolagents.tools"] = sorted(str(t) for t in tools)
        managed = getattr(agent, "managed_agents", None)
        if isinstance(managed, dict) and managed:
            attrs["smolagents.managed_agents"] = sorted(str(a) for a in managed)
        max_steps = kwargs.get("max_steps") or getattr(agent, "max_steps", None)
        if isinstance(max_steps, int):
            attrs["smolagents.max_steps"] = max_steps
        if kwargs.get("stream", args[1] if len(args) > 1 else False) is True:
            attrs["smolagents.stream"] = True
        model = getattr(agent, "model", None)
        if model is not None:
            self.adapter.ensure_model_class(type(model))
        model_id = getattr(model, "model_id", None)
        if isinstance(model_id, str):
            # an attribute, not the event's model: per-model counts and costs are the model calls'
            attrs["smolagents.model_id"] = model_id
        span = start_span(f"invoke_agent {name}", operation_type="agent", agent=identity, attributes=attrs,
                          capture_content=self.adapter.options.capture_content)
        task = args[0] if args else kwargs.get("task")
        run = _Run(agent, identity, span, next(self._seq), task)
        with self.lock:
            if sum(len(rs) for rs in self.running.values()) >= _MAX_RUNS:  # runs nobody finished: forget the oldest
                for key in list(self.running)[: max(1, len(self.running) // 10)]:
                    del self.running[key]
            self.running.setdefault(id(agent), []).append(run)
        return run

    def _end_run(self, run: _Run, *, result: Any = None, error: BaseException | None = None) -> None:
        try:
            with self.lock:
                runs = self.running.get(id(run.agent))
                if runs is not None:
                    if run in runs:
                        runs.remove(run)
                    if not runs:
                        del self.running[id(run.agent)]
                step, run.step = run.step, None
            if step is not None:  # a step that had calls but never reached its callback (an error ended it)
                step.end(error=error)
            attrs: dict[str, Any] = {"smolagents.steps": run.steps}
            output = result
            if type(result).__name__ == "RunResult":
                output = getattr(result, "output", None)
                state = getattr(result, "state", None)
                if isinstance(state, str):
                    attrs["smolagents.state"] = state
            capture = self._capture()
            run.span.end(error=error, attributes=attrs,
                         input_content=_text(run.task) if capture else None,
                         output_content=_text(output) if capture and output is not None else None)
        except Exception as exc:
            self.adapter.report(exc)

    def _stream_run(self, run: _Run, steps: Any) -> Iterator[Any]:
        """``run(stream=True)``: the steps pass through; the run ends when they do."""
        error: BaseException | None = None
        final: Any = None
        try:
            while True:
                with self._entered(run):
                    try:
                        item = next(steps)
                    except StopIteration:
                        return
                if type(item).__name__ == "FinalAnswerStep":
                    final = getattr(item, "output", None)
                yield item
        except GeneratorExit:
            run.span.attributes["smolagents.stream_closed"] = True
            try:
                with self._entered(run):
                    steps.close()
            except BaseException as exc:  # smolagents' own (its finally yields the step): passed on as is
                error = exc
                raise
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._end_run(run, result=final, error=error)

    # ------------------------------------------------------------------ managed agents
    def call_wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``MultiStepAgent.__call__`` (how a manager calls a managed agent): a ``handoff`` event."""
        if not self._active():
            return wrapped(*args, **kwargs)
        try:
            started = self._begin_handoff(instance, args, kwargs)
        except Exception as exc:
            self.adapter.report(exc)
            started = None
        if started is None:
            return wrapped(*args, **kwargs)
        manager, span = started
        token = _handoff_var.set((instance, manager.identity.agent_name or ""))
        try:
            return self._run_in(manager, span, wrapped, args, kwargs)
        finally:
            try:
                _handoff_var.reset(token)
            except ValueError:
                pass

    def _begin_handoff(self, agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[_Run, Span] | None:
        current = _run_var.get()
        if current is not None and current.agent is not agent:
            manager: _Run | None = current
        else:  # no context here (a CodeAgent's code thread): the running agent that manages this one
            manager = self._find(lambda r: r.agent is not agent and any(
                a is agent for a in (getattr(r.agent, "managed_agents", None) or {}).values()))
        if manager is None:
            return None  # called directly, not by a manager: the run alone is recorded
        source, target = manager.identity.agent_name, agent_name(agent)
        span = self._child(manager, self._parent_in(manager), f"smolagents.handoff {target}", "handoff",
                           attributes={"smolagents.from_agent": source, "smolagents.to_agent": target})
        task = args[0] if args else kwargs.get("task")
        if self._capture() and task is not None:
            span.extra["input_content"] = _text(task)
        return manager, span

    # ------------------------------------------------------------------ steps
    def callback_wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``CallbackRegistry.callback`` (every finished step): the step becomes an event after the user's
        callbacks ran."""
        try:
            return wrapped(*args, **kwargs)
        finally:
            if self._active():
                try:
                    self._on_step(args[0] if args else kwargs.get("memory_step"), kwargs.get("agent"))
                except Exception as exc:
                    self.adapter.report(exc)

    def _on_step(self, step: Any, agent: Any) -> None:
        kind = type(step).__name__
        if kind not in ("ActionStep", "PlanningStep"):
            return
        run = self._latest_run_of(agent) if agent is not None else _run_var.get()
        if run is None:
            return
        with self.lock:
            span, run.step = run.step, None
            if kind == "ActionStep":
                run.steps += 1
        if span is None:
            span = self._child(run, run.span, "smolagents.step", "agent_step")
        attrs: dict[str, Any] = {}
        capture = self._capture()
        output: str | None = None
        if kind == "ActionStep":
            number = getattr(step, "step_number", None)
            span.operation_name = f"smolagents.step {number}"
            span.operation_type = "agent_step"
            attrs["smolagents.step_number"] = number
            calls = getattr(step, "tool_calls", None) or ()
            names = [getattr(c, "name", None) for c in calls]
            if names:
                attrs["smolagents.tool_calls"] = [str(n) for n in names]
            if getattr(step, "is_final_answer", False):
                attrs["smolagents.final_answer"] = True
            if capture:
                output = _text(getattr(step, "observations", None))
        else:
            span.operation_name = "smolagents.planning"
            span.operation_type = "agent_planning"
            if capture:
                output = _text(getattr(step, "plan", None))
        err = getattr(step, "error", None)
        error = err if isinstance(err, BaseException) else None
        if error is not None:
            attrs["smolagents.error_type"] = type(error).__name__
        # smolagents stamps steps with time.time(); clock.from_wall puts them on the time line of
        # every other span (a wall-clock step mid-run must not end a step after its run).
        timing = getattr(step, "timing", None)
        start, end = getattr(timing, "start_time", None), getattr(timing, "end_time", None)
        if isinstance(start, float):
            span.start_ns = max(run.span.start_ns, clock.from_wall(int(start * 1e9)))
        end_ns = max(span.start_ns, clock.from_wall(int(end * 1e9))) if isinstance(end, float) else None
        # No usage here: the step's tokens are its model calls', stored once on those.
        span.end(error=error, attributes=attrs, output_content=output, end_ns=end_ns)

    # ------------------------------------------------------------------ model calls
    def generate_wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``<Model>.generate``: one ``chat`` event with the provider's usage; SDK patches stay quiet inside."""
        span = self._model_span(instance, args, kwargs, stream=False)
        if span is None:
            return wrapped(*args, **kwargs)
        result = self._call_model(span, wrapped, args, kwargs)
        try:
            self._end_model(span, instance, result)
        except Exception as exc:
            self.adapter.report(exc)
        return result

    def generate_stream_wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...],
                                kwargs: dict[str, Any]) -> Any:
        """``<Model>.generate_stream``: the deltas pass through; one ``chat`` event when the stream ends."""
        span = self._model_span(instance, args, kwargs, stream=True)
        if span is None:
            return wrapped(*args, **kwargs)
        return self._stream_model(span, instance, self._call_model(span, wrapped, args, kwargs))

    def _model_span(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, stream: bool) -> Span | None:
        """The ``chat`` span of a model call, or ``None`` when it is not recorded (or starting it failed)."""
        if not self._active() or _in_model.get():
            return None
        try:
            return self._begin_model(instance, args, kwargs, stream=stream)
        except Exception as exc:
            self.adapter.report(exc)
            return None

    def _call_model(self, span: Span, wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the model call with SDK-level instrumentation quiet (one provider request, one event)."""
        token = _in_model.set(True)
        try:
            with suppress_instrumentation(), span.activate():
                return wrapped(*args, **kwargs)
        except BaseException as exc:
            self._fail_model(span, exc)
            raise
        finally:
            _in_model.reset(token)

    def _stream_model(self, span: Span, model: Any, deltas: Any) -> Iterator[Any]:
        texts: list[str] = []
        tools: list[str] = []
        inp = out = 0
        seen_usage = False
        completed = False
        error: BaseException | None = None
        try:
            while True:
                token = _in_model.set(True)
                try:
                    with suppress_instrumentation(), span.activate():
                        try:
                            delta = next(deltas)
                        except StopIteration:
                            completed = True
                            return
                finally:
                    _in_model.reset(token)
                try:
                    content = getattr(delta, "content", None)
                    if isinstance(content, str):
                        texts.append(content)
                    usage = getattr(delta, "token_usage", None)
                    if usage is not None:
                        seen_usage = True
                        inp += getattr(usage, "input_tokens", 0) or 0
                        out += getattr(usage, "output_tokens", 0) or 0
                    for call in getattr(delta, "tool_calls", None) or ():
                        name = getattr(getattr(call, "function", None), "name", None)
                        if name:
                            tools.append(str(name))
                except Exception as exc:
                    self.adapter.report(exc)
                yield delta
        except GeneratorExit:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                attrs: dict[str, Any] = {"stream": True, "stream_completed": completed}
                if error is not None:
                    attrs.update(error_attributes(error))
                if tools:
                    attrs["tool_calls"] = ",".join(tools)
                    attrs["tool_call_count"] = len(tools)
                source = "tokenizer" if span.provider in _LOCAL else "provider"
                usage = TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=inp + out,
                                   source=source) if seen_usage else None
                span.end(error=error, usage=usage, attributes=attrs,
                         output_content=_text("".join(texts)) if self._capture() else None)
            except Exception as exc:
                self.adapter.report(exc)

    def _begin_model(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, stream: bool) -> Span:
        model_id = getattr(model, "model_id", None)
        model_id = model_id if isinstance(model_id, str) else None
        provider = provider_of(model)
        attrs: dict[str, Any] = {"smolagents.model_class": type(model).__name__}
        tools = kwargs.get("tools_to_call_from")
        if tools:
            attrs["smolagents.tools_offered"] = len(tools)
        name = f"chat {model_id}" if model_id else "chat"
        run = _run_var.get()
        if run is not None:
            span = self._child(run, self._parent_in(run), name, "chat", model=model_id, provider=provider,
                               attributes=attrs)
        else:  # a model called outside any agent run: the caller's context
            span = start_span(name, operation_type="chat", model=model_id, provider=provider, attributes=attrs,
                              capture_content=self.adapter.options.capture_content)
        if self._capture():
            messages = args[0] if args else kwargs.get("messages")
            span.extra["input_content"] = _message_text(messages)
        return span

    def _fail_model(self, span: Span, exc: BaseException) -> None:
        try:
            span.end(error=exc, attributes=error_attributes(exc))
        except Exception as err:
            self.adapter.report(err)

    def _end_model(self, span: Span, model: Any, result: Any) -> None:
        attrs: dict[str, Any] = {}
        raw = getattr(result, "raw", None)
        local = span.provider in _LOCAL
        usage = None if local else usage_of(field(raw, "usage"))
        if usage is None:
            tu = getattr(result, "token_usage", None)
            if tu is not None:
                inp, out = _int(getattr(tu, "input_tokens", None)), _int(getattr(tu, "output_tokens", None))
                usage = TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=(inp or 0) + (out or 0),
                                   source="tokenizer" if local else "provider")
        answered = field(raw, "model")
        if not isinstance(answered, str) or not answered:
            answered = None
        response_id = field(raw, "id")
        if isinstance(response_id, str) and response_id:
            attrs["gen_ai.response.id"] = response_id
        choices = field(raw, "choices")
        if isinstance(choices, (list, tuple)) and choices:
            reason = field(choices[0], "finish_reason")
            if isinstance(reason, str):
                attrs["finish_reason"] = reason
        calls = getattr(result, "tool_calls", None) or ()
        names = [str(field(field(c, "function"), "name")) for c in calls]
        if names:
            attrs["tool_calls"] = ",".join(names)
            attrs["tool_call_count"] = len(names)
        output = _text(getattr(result, "content", None)) if self._capture() else None
        # model: the model id asked for; the raw response's model is what answered
        span.end(usage=usage, model=span.model or answered, response_model=answered, attributes=attrs,
                 output_content=output)

    # ------------------------------------------------------------------ tools and code
    def tool_wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``Tool.__call__`` inside an agent run: one ``tool`` event (calls outside runs pass unrecorded)."""
        if not self._active():
            return wrapped(*args, **kwargs)
        inside = _in_tool.get()
        if id(instance) in inside:  # PipelineTool.__call__ reaching Tool.__call__: already recorded
            return wrapped(*args, **kwargs)
        try:
            run = _run_var.get() or self._find(lambda r: any(
                t is instance for t in (getattr(r.agent, "tools", None) or {}).values()))
            span = None
            if run is not None:
                name = str(getattr(instance, "name", None) or type(instance).__name__)
                span = self._child(run, self._parent_in(run), f"execute_tool {name}", "tool",
                                   attributes={"gen_ai.tool.name": name})
                if self._capture():
                    shown = {k: v for k, v in kwargs.items() if k != "sanitize_inputs_outputs"}
                    span.extra["input_content"] = _text(shown if not args else (*args, shown) if shown else args)
        except Exception as exc:
            self.adapter.report(exc)
            span = None
        if span is None or run is None:
            return wrapped(*args, **kwargs)
        token = _in_tool.set((*inside, id(instance)))
        try:
            return self._run_in(run, span, wrapped, args, kwargs)
        finally:
            _in_tool.reset(token)

    def executor_wrapper(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``LocalPythonExecutor.__call__`` (a CodeAgent's action): one ``tool`` event ``python_interpreter``,
        parent of the tools and managed agents its code calls."""
        run = _run_var.get() if self._active() else None
        if run is None:
            return wrapped(*args, **kwargs)
        try:
            span = self._child(run, self._parent_in(run), "execute_tool python_interpreter", "tool",
                               attributes={"gen_ai.tool.name": "python_interpreter"})
            if self._capture():
                span.extra["input_content"] = _text(args[0] if args else kwargs.get("code_action"))
        except Exception as exc:
            self.adapter.report(exc)
            return wrapped(*args, **kwargs)
        previous, run.exec_span = run.exec_span, span
        try:
            return self._run_in(run, span, wrapped, args, kwargs, self._action_ending)
        finally:
            run.exec_span = previous
