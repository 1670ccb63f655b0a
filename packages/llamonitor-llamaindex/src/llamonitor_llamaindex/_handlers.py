"""Span and event handlers on LlamaIndex's root instrumentation dispatcher -> llamonitor spans."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.span import SimpleSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler
from llama_index.core.response_synthesizers.base import BaseSynthesizer
from llama_index.core.tools.types import BaseTool
from llamonitor.instrumentation.adapter import Adapter
from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.tracing import Span, is_recording, is_suppressed, start_span, suppress_instrumentation
from pydantic import PrivateAttr

_MAX_PENDING = 10_000

_Workflow_cls: Any
try:
    from workflows import Workflow as _Workflow_cls  # llama-index-core >= 0.13 re-exports `workflows`
except ImportError:  # pragma: no cover
    try:
        from llama_index.core.workflow import Workflow as _Workflow_cls
    except ImportError:
        _Workflow_cls = None

_LLM_METHODS = {"chat": "chat", "achat": "chat", "stream_chat": "chat", "astream_chat": "chat",
                "complete": "text_completion", "acomplete": "text_completion",
                "stream_complete": "text_completion", "astream_complete": "text_completion"}
_EMBED_METHODS = {"get_query_embedding", "aget_query_embedding", "get_text_embedding", "aget_text_embedding",
                  "get_text_embedding_batch", "aget_text_embedding_batch"}


def _warn_once(key: str, message: str) -> None:
    from llamonitor_llamaindex import _adapter  # the package's one adapter: one logger, one warn-once set

    _adapter.warn_once(key, message)


def _classify(id_: str, instance: Any) -> tuple[str, str] | None:
    """(operation_type, operation name) for spans we record, else ``None``."""
    if instance is None:
        return None
    method = id_.split("-", 1)[0].rsplit(".", 1)[-1]
    cls = type(instance).__name__
    if isinstance(instance, BaseLLM) and method in _LLM_METHODS:
        return _LLM_METHODS[method], cls
    if isinstance(instance, BaseEmbedding) and method in _EMBED_METHODS:
        return "embeddings", cls
    if isinstance(instance, BaseRetriever) and method in ("retrieve", "aretrieve"):
        return "retrieval", f"retrieve {cls}"
    if isinstance(instance, BaseQueryEngine) and method in ("query", "aquery"):
        return "query", f"query {cls}"
    if isinstance(instance, BaseSynthesizer) and method in ("synthesize", "asynthesize"):
        return "synthesize", f"synthesize {cls}"
    if isinstance(instance, BaseTool) and method in ("call", "acall", "__call__"):
        name = getattr(getattr(instance, "metadata", None), "name", None) or cls
        return "tool", f"tool {name}"
    if _Workflow_cls is not None and isinstance(instance, _Workflow_cls):
        if method == "run":
            return "workflow", f"workflow {cls}"
        return "workflow_step", f"step {method}"
    return None


class _Rec:
    __slots__ = ("activation", "agent", "first_token_ns", "input", "instance_id", "kind", "session", "span",
                 "suppress", "trace", "workflow")

    def __init__(self, span: Span, kind: str, session: str | None, trace: str, agent: AgentIdentity | None) -> None:
        self.span = span
        self.kind = kind
        self.session = session
        self.trace = trace
        self.agent = agent
        self.first_token_ns = 0
        self.suppress: AbstractContextManager[None] | None = None
        self.workflow: _Workflow | None = None
        self.instance_id = 0
        self.activation: AbstractContextManager[Span] | None = None
        self.input: str | None = None


class _Workflow:
    """Current agent of one workflow run (AgentWorkflow hands control between agents)."""

    __slots__ = ("agent", "handoffs")

    def __init__(self) -> None:
        self.agent: str | None = None
        self.handoffs: list[tuple[str, str]] = []


def _input_text(bound_args: inspect.BoundArguments) -> str | None:
    args = bound_args.arguments
    messages = args.get("messages")
    if messages:
        return "\n".join(f"{getattr(getattr(m, 'role', None), 'value', 'message')}: {getattr(m, 'content', m)}"
                         for m in messages)
    prompt = args.get("prompt")
    return str(prompt) if prompt is not None else None


def _output_text(response: Any) -> str | None:
    message = getattr(response, "message", None)
    if message is not None:
        content = getattr(message, "content", None)
        return content if isinstance(content, str) else None
    text = getattr(response, "text", None)
    return text if isinstance(text, str) else None


def _unsuppress(rec: _Rec) -> None:
    cm, rec.suppress = rec.suppress, None
    if cm is not None:
        try:
            cm.__exit__(None, None, None)
        except (ValueError, RuntimeError):
            pass  # ended in another context: the one that set it is gone


def _agent_in(bound_args: inspect.BoundArguments) -> str | None:
    for value in bound_args.arguments.values():
        name = getattr(value, "current_agent_name", None)
        if isinstance(name, str) and name:
            return name
    return None


def _usage_of(response: Any) -> tuple[TokenUsage | None, str | None]:
    raw = getattr(response, "raw", None)
    usage = getattr(raw, "usage", None) if raw is not None and not isinstance(raw, Mapping) else (
        raw.get("usage") if isinstance(raw, Mapping) else None)
    model = getattr(raw, "model", None) if raw is not None and not isinstance(raw, Mapping) else (
        raw.get("model") if isinstance(raw, Mapping) else None)
    model = model if isinstance(model, str) else None

    def get(obj: Any, key: str) -> Any:
        return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)

    if usage is not None:
        inp = get(usage, "prompt_tokens")
        if inp is None:
            inp = get(usage, "input_tokens")
        out = get(usage, "completion_tokens")
        if out is None:
            out = get(usage, "output_tokens")
        total = get(usage, "total_tokens")
        details = get(usage, "prompt_tokens_details")
        cached = get(details, "cached_tokens") if details is not None else None
        odetails = get(usage, "completion_tokens_details")
        reasoning = get(odetails, "reasoning_tokens") if odetails is not None else None
        if inp is not None or out is not None:
            if total is None and inp is not None and out is not None:
                total = int(inp) + int(out)
            return TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=total, cached_input_tokens=cached,
                              reasoning_tokens=reasoning, source="provider"), model
    extra = getattr(response, "additional_kwargs", None) or {}
    if isinstance(extra, Mapping) and ("prompt_tokens" in extra or "completion_tokens" in extra):
        return TokenUsage(input_tokens=extra.get("prompt_tokens"), output_tokens=extra.get("completion_tokens"),
                          total_tokens=extra.get("total_tokens"), source="provider"), model
    return None, model


class _State:
    """Shared by the span and event handler."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.recs: dict[str, _Rec] = {}
        #: every open LlamaIndex span id -> id of the nearest recorded ancestor (or None)
        self.anchor: dict[str, str | None] = {}
        #: streamed LLM calls whose span exited with a generator; ended by the LLM end event
        self.pending: dict[str, _Rec] = {}
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ spans
    def enter(self, id_: str, bound_args: inspect.BoundArguments, instance: Any, parent_id: str | None) -> None:
        anchor_id = None
        if parent_id is not None:
            anchor_id = parent_id if parent_id in self.recs else self.anchor.get(parent_id)
        parent = self.recs.get(anchor_id) if anchor_id else None
        if not is_recording():
            self.anchor[id_] = anchor_id
            return
        kind = _classify(id_, instance)
        if kind is None and parent is not None and parent.kind == "workflow" and instance is None:
            kind = ("workflow_step", "step " + id_.split("-", 1)[0].rsplit(".", 1)[-1])  # steps: plain functions
        if kind is None or (parent is not None and parent.instance_id == id(instance) and (
                parent.kind == kind[0] or {parent.kind, kind[0]} <= {"chat", "text_completion"})):
            self.anchor[id_] = anchor_id  # transparent: children attach to the nearest recorded span
            return
        op_type, name = kind
        agent = parent.agent if parent else None
        workflow = parent.workflow if parent else None
        attrs: dict[str, Any] = {"llamaindex.span": id_.split("-", 1)[0]}
        model = None
        if op_type in ("chat", "text_completion", "embeddings"):
            m = getattr(instance, "model", None) or getattr(instance, "model_name", None)
            model = m if isinstance(m, str) else None
            if model:
                name = f"{op_type} {model}"
        if op_type == "workflow":
            workflow = _Workflow()
        handoff: tuple[str, str] | None = None
        if op_type == "workflow_step" and workflow is not None:
            current = _agent_in(bound_args)
            if current is not None and current != workflow.agent:
                if workflow.agent is not None:
                    handoff = (workflow.agent, current)
                    workflow.handoffs.append(handoff)
                workflow.agent = current
            if workflow.agent is not None:
                agent = AgentIdentity(framework="llamaindex", agent_name=workflow.agent,
                                      handoff_from=handoff[0] if handoff else None)
        provider = None
        if op_type in ("chat", "text_completion", "embeddings"):
            provider = type(instance).__module__.split(".")[2] if type(instance).__module__.startswith(
                "llama_index.llms.") or type(instance).__module__.startswith("llama_index.embeddings.") else None
        if parent is None:
            span = start_span(name, operation_type=op_type, span_id=id_, agent=agent, model=model,
                              provider=provider, attributes=attrs, capture_content=self.adapter.options.capture_content)
        else:
            span = start_span(name, operation_type=op_type, session_id=parent.session, trace_id=parent.trace,
                              parent_span_id=parent.span.span_id, span_id=id_, agent=agent, model=model,
                              provider=provider, attributes=attrs, inherit_context=False,
                              capture_content=self.adapter.options.capture_content)
        rec = _Rec(span, op_type, span.session, span.trace_id, agent)
        rec.workflow = workflow
        rec.instance_id = id(instance)
        self.recs[id_] = rec
        if handoff is not None:
            h = start_span(f"handoff {handoff[0]} -> {handoff[1]}", operation_type="handoff",
                           session_id=rec.session, trace_id=rec.trace,
                           parent_span_id=parent.span.span_id if parent else None,
                           agent=AgentIdentity(framework="llamaindex", agent_name=handoff[1],
                                               handoff_from=handoff[0]),
                           attributes={"handoff.from": handoff[0], "handoff.to": handoff[1]}, inherit_context=False)
            h.end(end_ns=h.start_ns)
        if op_type in ("workflow_step", "tool"):
            # non-LlamaIndex code inside a step or tool (a direct SDK call, @monitor_llm) nests
            # under it with the agent's identity; these spans start and end in one context
            act = span.activate()
            act.__enter__()
            rec.activation = act
        if op_type in ("chat", "text_completion") and self.adapter.capture():
            rec.input = _input_text(bound_args)
        if op_type in ("chat", "text_completion", "embeddings") and not is_suppressed():
            cm = suppress_instrumentation()
            cm.__enter__()
            rec.suppress = cm

    def exit(self, id_: str, result: Any = None, err: BaseException | None = None) -> None:
        self.anchor.pop(id_, None)
        rec = self.recs.pop(id_, None)
        if rec is None:
            return
        act, rec.activation = rec.activation, None
        if act is not None:
            try:
                act.__exit__(None, None, None)
            except Exception:
                pass
        if err is None and rec.kind in ("chat", "text_completion") and (
                inspect.isgenerator(result) or inspect.isasyncgen(result)):
            # A stream: the SDK request is made when the caller starts iterating, so the SDK
            # suppression stays on until the first chunk (or the end / error event).
            with self.lock:
                if len(self.pending) >= _MAX_PENDING:
                    self.pending.clear()
                self.pending[id_] = rec  # the LLM end event finishes it
            return
        _unsuppress(rec)
        attrs: dict[str, Any] = {}
        usage = None
        model = None
        if err is None and rec.kind in ("chat", "text_completion"):
            usage, model = _usage_of(result)
        elif err is None and rec.kind == "retrieval" and isinstance(result, list):
            attrs["retrieval.documents"] = len(result)
        output = _output_text(result) if rec.input is not None and err is None else None
        # model: the LLM's configured model (asked for); the raw response's model is what answered
        rec.span.end(error=err, usage=usage, model=rec.span.model or model, response_model=model, attributes=attrs,
                     input_content=rec.input, output_content=output)

    # ------------------------------------------------------------------ events
    def event(self, event: Any) -> None:
        name = type(event).__name__
        span_id = getattr(event, "span_id", None)
        if not span_id:
            return
        if name in ("LLMChatInProgressEvent", "LLMCompletionInProgressEvent"):
            rec = self.pending.get(span_id)
            if rec is not None and not rec.first_token_ns:
                rec.first_token_ns = time.perf_counter_ns()
                _unsuppress(rec)
        elif name in ("LLMChatEndEvent", "LLMCompletionEndEvent", "ExceptionEvent"):
            with self.lock:
                rec = self.pending.pop(span_id, None)
            if rec is None:
                return
            _unsuppress(rec)
            attrs: dict[str, Any] = {"stream": True}
            if rec.first_token_ns:
                attrs["time_to_first_token_ms"] = round((rec.first_token_ns - rec.span.t0) / 1e6, 3)
            if name == "ExceptionEvent":
                exc = getattr(event, "exception", None)
                if isinstance(exc, GeneratorExit):
                    attrs["stream_completed"] = False
                    exc = None
                rec.span.end(error=exc if isinstance(exc, BaseException) else None, attributes=attrs)
                return
            response = getattr(event, "response", None)
            usage, model = _usage_of(response)
            output = _output_text(response) if rec.input is not None else None
            rec.span.end(usage=usage, model=rec.span.model or model, response_model=model, attributes=attrs,
                         input_content=rec.input, output_content=output)
        elif name == "EmbeddingEndEvent":
            rec = self.recs.get(span_id)
            if rec is not None:
                rec.span.set_attribute("embeddings.count", len(getattr(event, "chunks", None) or ()))


class LlamonitorSpanHandler(BaseSpanHandler[SimpleSpan]):
    """Turns LlamaIndex spans (LLM, embedding, retrieval, query, synthesis, tool, workflow) into events."""

    _state: Any = PrivateAttr(default=None)

    def __init__(self, state: _State) -> None:
        super().__init__()
        self._state = state

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "LlamonitorSpanHandler"

    def new_span(self, id_: str, bound_args: inspect.BoundArguments, instance: Any | None = None,
                 parent_span_id: str | None = None, tags: dict[str, Any] | None = None,
                 **kwargs: Any) -> SimpleSpan | None:
        """A span started (called in the caller's context)."""
        try:
            self._state.enter(id_, bound_args, instance, parent_span_id)
        except Exception:
            _warn_once("enter", "recording a LlamaIndex span start failed")
        return None

    def prepare_to_exit_span(self, id_: str, bound_args: inspect.BoundArguments, instance: Any | None = None,
                             result: Any | None = None, **kwargs: Any) -> SimpleSpan | None:
        """A span ended normally."""
        try:
            self._state.exit(id_, result=result)
        except Exception:
            _warn_once("exit", "recording a LlamaIndex span end failed")
        return None

    def prepare_to_drop_span(self, id_: str, bound_args: inspect.BoundArguments, instance: Any | None = None,
                             err: BaseException | None = None, **kwargs: Any) -> SimpleSpan | None:
        """A span ended with an exception."""
        try:
            self._state.exit(id_, err=err)
        except Exception:
            _warn_once("drop", "recording a LlamaIndex span error failed")
        return None


class LlamonitorEventHandler(BaseEventHandler):
    """Reads usage and stream timing from LlamaIndex events into the open spans."""

    _state: Any = PrivateAttr(default=None)

    def __init__(self, state: _State) -> None:
        super().__init__()
        self._state = state

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "LlamonitorEventHandler"

    def handle(self, event: Any, **kwargs: Any) -> None:
        """One LlamaIndex instrumentation event."""
        try:
            self._state.event(event)
        except Exception:
            _warn_once("event", "handling a LlamaIndex event failed")
