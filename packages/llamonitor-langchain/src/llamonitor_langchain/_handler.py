"""The callback handler: LangChain runs -> llamonitor spans (LangGraph identity included)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from llamonitor.instrumentation.adapter import capture_enabled
from llamonitor.schema.events import AgentIdentity, TokenUsage
from llamonitor.tracing import Span, is_recording, is_suppressed, start_span, suppress_instrumentation

_MAX_OPEN_RUNS = 100_000

#: LangGraph metadata keys copied into custom attributes
_GRAPH_KEYS = ("langgraph_node", "langgraph_step", "langgraph_path", "langgraph_checkpoint_ns",
               "langgraph_triggers")


def _warn_once(key: str, message: str) -> None:
    from llamonitor_langchain import _adapter  # the package's one adapter: one logger, one warn-once set

    _adapter.warn_once(key, message)


class _Run:
    """What we keep about one open LangChain run."""

    __slots__ = ("activation", "agent", "first_token_ns", "graph_scope", "input", "kind", "node_ns", "session",
                 "span", "suppress", "trace")

    def __init__(self, span: Span, kind: str, session: str | None, trace: str, agent: AgentIdentity | None,
                 node_ns: str | None) -> None:
        self.span = span
        self.kind = kind
        self.session = session
        self.trace = trace
        self.agent = agent
        self.node_ns = node_ns
        self.graph_scope: _GraphScope | None = None
        self.first_token_ns = 0
        self.suppress: AbstractContextManager[None] | None = None
        self.activation: AbstractContextManager[Span] | None = None
        self.input: str | None = None


class _GraphScope:
    """Node order inside one graph run (for handoffs)."""

    __slots__ = ("cur_nodes", "cur_step", "prev_nodes")

    def __init__(self) -> None:
        self.cur_step: int | None = None
        self.cur_nodes: list[str] = []
        self.prev_nodes: list[str] = []

    def enter(self, node: str, step: int | None) -> list[str]:
        """Register ``node`` starting at ``step``; returns the nodes that handed over to it."""
        if step is None or self.cur_step is None or step > self.cur_step:
            if self.cur_nodes:
                self.prev_nodes = self.cur_nodes
            self.cur_nodes = []
            self.cur_step = step
        self.cur_nodes.append(node)
        return list(self.prev_nodes)


def _usage(response: Any) -> tuple[TokenUsage | None, str | None]:
    """Usage and response model from an ``LLMResult`` (``usage_metadata`` first, then ``llm_output``)."""
    model: str | None = None
    llm_output = getattr(response, "llm_output", None) or {}
    if isinstance(llm_output, Mapping):
        m = llm_output.get("model_name") or llm_output.get("model")
        model = m if isinstance(m, str) else None
    inp = out = total = cached = cache_create = reasoning = None
    found = False
    for gens in getattr(response, "generations", None) or ():
        for gen in gens or ():
            msg = getattr(gen, "message", None)
            meta = getattr(msg, "usage_metadata", None)
            if model is None:
                rm = getattr(msg, "response_metadata", None) or {}
                m = rm.get("model_name") or rm.get("model") if isinstance(rm, Mapping) else None
                model = m if isinstance(m, str) else None
            if not meta:
                continue
            found = True
            inp = (inp or 0) + int(meta.get("input_tokens") or 0)
            out = (out or 0) + int(meta.get("output_tokens") or 0)
            total = (total or 0) + int(meta.get("total_tokens") or 0)
            det = meta.get("input_token_details") or {}
            if det.get("cache_read") is not None:
                cached = (cached or 0) + int(det["cache_read"])
            if det.get("cache_creation") is not None:
                cache_create = (cache_create or 0) + int(det["cache_creation"])
            odet = meta.get("output_token_details") or {}
            if odet.get("reasoning") is not None:
                reasoning = (reasoning or 0) + int(odet["reasoning"])
        if found:
            break  # one run = one prompt; usage is reported once per message list
    if found:
        return TokenUsage(input_tokens=inp, output_tokens=out, total_tokens=total, cached_input_tokens=cached,
                          cache_creation_input_tokens=cache_create, reasoning_tokens=reasoning,
                          source="provider"), model
    tu = llm_output.get("token_usage") or llm_output.get("usage") if isinstance(llm_output, Mapping) else None
    if isinstance(tu, Mapping) and tu:
        i = tu.get("prompt_tokens", tu.get("input_tokens"))
        o = tu.get("completion_tokens", tu.get("output_tokens"))
        t = tu.get("total_tokens")
        if t is None and i is not None and o is not None:
            t = int(i) + int(o)
        return TokenUsage(input_tokens=i, output_tokens=o, total_tokens=t, source="provider"), model
    return None, model


def _messages_text(messages: Any) -> str:
    lines = []
    for msg in messages or ():
        content = getattr(msg, "content", msg)
        text = content if isinstance(content, str) else repr(content)
        lines.append(f"{getattr(msg, 'type', 'message')}: {text}")
    return "\n".join(lines)


def _system_text(messages: Any) -> str | None:
    """The text of the system messages of a chat model's input (``None`` when there is none)."""
    texts = [getattr(m, "content", None) for m in messages or () if getattr(m, "type", None) == "system"]
    joined = "\n".join(t if isinstance(t, str) else repr(t) for t in texts if t)
    return joined or None


def _output_text(response: Any) -> str:
    parts = []
    for gens in getattr(response, "generations", None) or ():
        for gen in gens or ():
            text = getattr(gen, "text", None)
            if isinstance(text, str):
                parts.append(text)
    return "\n".join(parts)


def _model_and_provider(serialized: Any, metadata: Mapping[str, Any], kwargs: Mapping[str, Any]) -> tuple[
        str | None, str | None]:
    params = kwargs.get("invocation_params") or {}
    model = metadata.get("ls_model_name")
    if not isinstance(model, str):
        model = params.get("model") or params.get("model_name") if isinstance(params, Mapping) else None
    provider = metadata.get("ls_provider")
    if not isinstance(provider, str):
        provider = None
        t = params.get("_type") if isinstance(params, Mapping) else None
        if isinstance(t, str):
            provider = t.split("-")[0]
    return (model if isinstance(model, str) else None), provider


def _name(serialized: Any, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, Mapping):
        n = serialized.get("name")
        if isinstance(n, str) and n:
            return n
        ids = serialized.get("id")
        if isinstance(ids, Sequence) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default


class LlamonitorCallbackHandler(BaseCallbackHandler):
    """Records every LangChain / LangGraph run as a llamonitor event.

    Works for sync and async code (it runs inline, in the caller's context, so it is cheap and
    sees the llamonitor session / trace active where ``invoke()`` was called). Pass it per call
    (``config={"callbacks": [LlamonitorCallbackHandler()]}``) or install it globally with
    :func:`llamonitor_langchain.instrument_langchain`.

    Chat models and LLMs become ``chat`` / ``text_completion`` events with the usage LangChain
    reports, the model and the provider; chains ``chain``, LangGraph nodes ``graph_node``, tools
    ``tool``, retrievers ``retrieval``. Run ids are the span ids, so events form the run tree.
    While a model run is open, SDK-level instrumentation is suppressed (one call, one event).
    """

    run_inline = True
    raise_error = False

    def __init__(self, *, capture_content: bool | None = None, record_chains: bool = True) -> None:
        """``capture_content`` forces content capture on/off (``None``: follow the config);
        ``record_chains=False`` records only models, tools, retrievers and graph nodes."""
        super().__init__()
        self.capture_content = capture_content
        self.record_chains = record_chains
        self._runs: dict[uuid.UUID, _Run] = {}
        self._scopes: dict[uuid.UUID, _GraphScope] = {}
        #: runs not recorded (``record_chains=False``) -> nearest recorded ancestor, for parent links
        self._skipped: dict[uuid.UUID, uuid.UUID | None] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing
    def _start(self, kind: str, op_type: str, op_name: str, run_id: uuid.UUID, parent_run_id: uuid.UUID | None,
               metadata: Mapping[str, Any] | None, *, model: str | None = None, provider: str | None = None,
               attributes: dict[str, Any] | None = None) -> _Run | None:
        if not is_recording():
            return None
        meta: Mapping[str, Any] = metadata or {}
        if parent_run_id is not None and parent_run_id in self._skipped:
            parent_run_id = self._skipped[parent_run_id]
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        if len(self._runs) > _MAX_OPEN_RUNS:  # runs that never ended (abandoned streams): bound the memory
            self._runs.clear()
            self._skipped.clear()
            self._scopes.clear()
        attrs: dict[str, Any] = attributes or {}
        attrs["langchain.run_type"] = kind
        node = meta.get("langgraph_node")
        node_ns = meta.get("langgraph_checkpoint_ns") if isinstance(node, str) else None
        thread_id = meta.get("thread_id")
        session = str(thread_id) if thread_id is not None else (parent.session if parent else None)
        agent = parent.agent if parent else None
        is_node = False
        handoffs: list[str] = []
        if isinstance(node, str) and node not in ("__start__", "__end__"):
            for key in _GRAPH_KEYS:
                value = meta.get(key)
                if value is not None:
                    attrs[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
            step = meta.get("langgraph_step")
            step = step if isinstance(step, int) else None
            # the top-most run of one node task: its parent belongs to another task (or is the graph)
            is_node = parent is None or parent.node_ns != node_ns
            if is_node and parent_run_id is not None:
                with self._lock:
                    scope = self._scopes.get(parent_run_id)
                    if scope is None:
                        scope = self._scopes[parent_run_id] = _GraphScope()
                    handoffs = scope.enter(node, step)
                if parent is not None:
                    parent.graph_scope = scope
            agent = AgentIdentity(framework="langgraph", agent_name=node, graph_node=node, graph_step=step,
                                  handoff_from=handoffs[-1] if handoffs and is_node else (
                                      agent.handoff_from if agent is not None and agent.graph_node == node
                                      else None))
            if is_node:
                op_type = "graph_node"
        if parent is None:
            span = start_span(op_name, operation_type=op_type, session_id=session, span_id=str(run_id),
                              agent=agent, model=model, provider=provider, attributes=attrs,
                              capture_content=self.capture_content)
            session = span.session
        else:
            span = start_span(op_name, operation_type=op_type, session_id=session, trace_id=parent.trace,
                              parent_span_id=parent.span.span_id, span_id=str(run_id), agent=agent, model=model,
                              provider=provider, attributes=attrs, inherit_context=False,
                              capture_content=self.capture_content)
        run = _Run(span, kind, session, span.trace_id, agent, node_ns if isinstance(node_ns, str) else None)
        self._runs[run_id] = run
        if is_node or kind == "tool":
            # code inside a node / tool that is not LangChain (a direct SDK call, @monitor_llm)
            # nests under it and carries the node's identity; node and tool runs start and end
            # in the same context (LangGraph runs each task in its own copied context)
            cm = span.activate()
            cm.__enter__()
            run.activation = cm
        if is_node and handoffs:
            for source in handoffs:
                h = start_span(f"handoff {source} -> {node}", operation_type="handoff", session_id=session,
                               trace_id=run.trace, parent_span_id=parent.span.span_id if parent else None,
                               agent=AgentIdentity(framework="langgraph", agent_name=str(node), graph_node=str(node),
                                                   graph_step=agent.graph_step if agent else None,
                                                   handoff_from=source),
                               attributes={"handoff.from": source, "handoff.to": node}, inherit_context=False)
                h.end(end_ns=h.start_ns)
        return run

    def _end(self, run_id: uuid.UUID, *, error: BaseException | None = None, usage: TokenUsage | None = None,
             response_model: str | None = None, attributes: dict[str, Any] | None = None,
             response: Any = None) -> None:
        run = self._runs.pop(run_id, None)
        self._scopes.pop(run_id, None)
        if run is None:
            self._skipped.pop(run_id, None)
        if run is None:
            return
        self._unsuppress(run)
        cm, run.activation = run.activation, None
        if cm is not None:
            try:
                cm.__exit__(None, None, None)
            except Exception:
                pass
        if run.first_token_ns:
            attributes = attributes or {}
            attributes["stream"] = True
            attributes["time_to_first_token_ms"] = round((run.first_token_ns - run.span.t0) / 1e6, 3)
        if error is not None and type(error).__name__ in ("GraphInterrupt", "ParentCommand", "GraphBubbleUp"):
            attributes = attributes or {}
            attributes["langgraph.control_flow"] = type(error).__name__
            error = None
        output = _output_text(response) if run.input is not None and response is not None else None
        # model: what was asked (the run's parameters), the answering model only when those named none
        run.span.end(error=error, usage=usage, model=run.span.model or response_model, response_model=response_model,
                     attributes=attributes, input_content=run.input, output_content=output)

    @staticmethod
    def _suppress(run: _Run) -> None:
        if is_suppressed():
            return
        cm = suppress_instrumentation()
        cm.__enter__()
        run.suppress = cm

    @staticmethod
    def _unsuppress(run: _Run) -> None:
        cm, run.suppress = run.suppress, None
        if cm is not None:
            try:
                cm.__exit__(None, None, None)
            except (ValueError, RuntimeError):
                pass  # ended in another context: the one that set it is gone

    # ------------------------------------------------------------------ models
    def _model_start(self, kind: str, serialized: Any, inputs: Any, run_id: uuid.UUID,
                     parent_run_id: uuid.UUID | None, metadata: Mapping[str, Any] | None,
                     kwargs: Mapping[str, Any]) -> None:
        model, provider = _model_and_provider(serialized, metadata or {}, kwargs)
        op_type = "chat" if kind == "chat_model" else "text_completion"
        attrs: dict[str, Any] = {"langchain.name": _name(serialized, kwargs, kind)}
        run = self._start(kind, op_type, f"{op_type} {model}" if model else op_type, run_id, parent_run_id,
                          metadata, model=model, provider=provider, attributes=attrs)
        if run is not None:
            self._suppress(run)
            if capture_enabled(self.capture_content):
                run.input = _messages_text(inputs) if kind == "chat_model" else "\n".join(map(str, inputs or ()))
                system = _system_text(inputs) if kind == "chat_model" else None
                if system is not None:  # stored only with capture on, through the redactor
                    run.span.extra["system_instructions"] = system

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: uuid.UUID,
                            parent_run_id: uuid.UUID | None = None, tags: list[str] | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """A chat model run started."""
        try:
            self._model_start("chat_model", serialized, messages[0] if messages else None, run_id, parent_run_id,
                              metadata, kwargs)
        except Exception:
            _warn_once("chat_start", "on_chat_model_start failed")

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: uuid.UUID,
                     parent_run_id: uuid.UUID | None = None, tags: list[str] | None = None,
                     metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """A (completion) LLM run started."""
        try:
            self._model_start("llm", serialized, prompts, run_id, parent_run_id, metadata, kwargs)
        except Exception:
            _warn_once("llm_start", "on_llm_start failed")

    def on_llm_new_token(self, token: Any, *, chunk: Any = None, run_id: uuid.UUID,
                         parent_run_id: uuid.UUID | None = None, **kwargs: Any) -> None:
        """A streamed token: the first one sets time to first token (and lifts the SDK suppression,
        since the SDK request has been made by then)."""
        try:
            run = self._runs.get(run_id)
            if run is not None and not run.first_token_ns:
                run.first_token_ns = time.perf_counter_ns()
                self._unsuppress(run)
        except Exception:
            _warn_once("token", "on_llm_new_token failed")

    def on_llm_end(self, response: Any, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None,
                   **kwargs: Any) -> None:
        """A model run finished: usage and response model."""
        try:
            usage, answered = _usage(response)
            self._end(run_id, usage=usage, response_model=answered, response=response)
        except Exception:
            _warn_once("llm_end", "on_llm_end failed")

    def on_llm_error(self, error: BaseException, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None,
                     **kwargs: Any) -> None:
        """A model run failed."""
        try:
            attrs: dict[str, Any] = {}
            status = getattr(error, "status_code", None)
            if isinstance(status, int):
                attrs["http.response.status_code"] = status
            self._end(run_id, error=error, attributes=attrs)
        except Exception:
            _warn_once("llm_error", "on_llm_error failed")

    # ------------------------------------------------------------------ chains
    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: uuid.UUID,
                       parent_run_id: uuid.UUID | None = None, tags: list[str] | None = None,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """A chain (runnable, graph, graph node) started."""
        try:
            name = _name(serialized, kwargs, "chain")
            meta = metadata or {}
            if (not self.record_chains and parent_run_id is not None
                    and meta.get("langgraph_node") != name):
                anchor = self._skipped.get(parent_run_id, parent_run_id)
                self._skipped[run_id] = anchor
                return
            self._start("chain", "chain", name, run_id, parent_run_id, metadata)
        except Exception:
            _warn_once("chain_start", "on_chain_start failed")

    def on_chain_end(self, outputs: Any, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None,
                     **kwargs: Any) -> None:
        """A chain finished."""
        try:
            self._end(run_id)
        except Exception:
            _warn_once("chain_end", "on_chain_end failed")

    def on_chain_error(self, error: BaseException, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None,
                       **kwargs: Any) -> None:
        """A chain failed."""
        try:
            self._end(run_id, error=error)
        except Exception:
            _warn_once("chain_error", "on_chain_error failed")

    # ------------------------------------------------------------------ tools
    def on_tool_start(self, serialized: dict[str, Any], input_str: str, *, run_id: uuid.UUID,
                      parent_run_id: uuid.UUID | None = None, tags: list[str] | None = None,
                      metadata: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None,
                      **kwargs: Any) -> None:
        """A tool started."""
        try:
            name = _name(serialized, kwargs, "tool")
            self._start("tool", "tool", f"tool {name}", run_id, parent_run_id, metadata,
                        attributes={"gen_ai.tool.name": name})
        except Exception:
            _warn_once("tool_start", "on_tool_start failed")

    def on_tool_end(self, output: Any, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None,
                    **kwargs: Any) -> None:
        """A tool finished."""
        try:
            self._end(run_id)
        except Exception:
            _warn_once("tool_end", "on_tool_end failed")

    def on_tool_error(self, error: BaseException, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None,
                      **kwargs: Any) -> None:
        """A tool failed."""
        try:
            self._end(run_id, error=error)
        except Exception:
            _warn_once("tool_error", "on_tool_error failed")

    # ------------------------------------------------------------------ retrievers
    def on_retriever_start(self, serialized: dict[str, Any], query: str, *, run_id: uuid.UUID,
                           parent_run_id: uuid.UUID | None = None, tags: list[str] | None = None,
                           metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """A retriever started."""
        try:
            name = _name(serialized, kwargs, "retriever")
            self._start("retriever", "retrieval", f"retrieve {name}", run_id, parent_run_id, metadata)
        except Exception:
            _warn_once("retriever_start", "on_retriever_start failed")

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: uuid.UUID,
                         parent_run_id: uuid.UUID | None = None, **kwargs: Any) -> None:
        """A retriever finished (the number of documents is recorded)."""
        try:
            self._end(run_id, attributes={"retrieval.documents": len(documents)})
        except Exception:
            _warn_once("retriever_end", "on_retriever_end failed")

    def on_retriever_error(self, error: BaseException, *, run_id: uuid.UUID,
                           parent_run_id: uuid.UUID | None = None, **kwargs: Any) -> None:
        """A retriever failed."""
        try:
            self._end(run_id, error=error)
        except Exception:
            _warn_once("retriever_error", "on_retriever_error failed")
