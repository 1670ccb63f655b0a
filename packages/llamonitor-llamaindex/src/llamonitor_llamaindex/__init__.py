"""llamonitor instrumentation for LlamaIndex.

::

    from llamonitor_llamaindex import instrument_llamaindex
    instrument_llamaindex()

Registers a span handler and an event handler on LlamaIndex's root instrumentation dispatcher:
LLM chat / completion calls (with usage), embeddings, retrieval, query engines, response
synthesis, tool calls and workflows become llamonitor events in one trace tree; in an
``AgentWorkflow`` every event carries the current agent's name and a ``handoff`` event is
recorded when control passes between agents. ``llama-index-core`` is imported only here.
"""

from __future__ import annotations

from typing import Any

from llamonitor.instrumentation.adapter import Adapter, InstrumentOptions

__all__ = ["InstrumentOptions", "LlamaIndexAdapter", "instrument_llamaindex", "is_instrumented",
           "uninstrument_llamaindex"]
__version__ = "0.1.0"


class LlamaIndexAdapter(Adapter):
    """Span and event handlers on LlamaIndex's root instrumentation dispatcher."""

    name = "llamaindex"
    framework = "llamaindex"
    distribution = "llama-index-core"
    module = "llama_index.core.instrumentation"
    install_hint = "pip install 'llamonitor-llamaindex[llamaindex]'"

    def __init__(self) -> None:
        super().__init__()
        self._installed_handlers: tuple[Any, Any, Any] | None = None  # (dispatcher, span handler, event handler)

    def _install(self) -> None:
        from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

        from llamonitor_llamaindex._handlers import LlamonitorEventHandler, LlamonitorSpanHandler, _State

        state = _State(self)
        dispatcher = get_dispatcher()  # the root dispatcher: every module's dispatcher propagates to it
        span_handler = LlamonitorSpanHandler(state)
        event_handler = LlamonitorEventHandler(state)
        dispatcher.add_span_handler(span_handler)
        dispatcher.add_event_handler(event_handler)
        self._installed_handlers = (dispatcher, span_handler, event_handler)

    def _uninstall(self) -> None:
        if self._installed_handlers is None:
            return
        dispatcher, span_handler, event_handler = self._installed_handlers
        self._installed_handlers = None
        dispatcher.span_handlers[:] = [h for h in dispatcher.span_handlers if h is not span_handler]
        dispatcher.event_handlers[:] = [h for h in dispatcher.event_handlers if h is not event_handler]


_adapter = LlamaIndexAdapter()
#: Record LlamaIndex operations as llamonitor events (``capture_content=None`` follows the config).
instrument_llamaindex = _adapter.instrument
#: Remove the handlers from the root dispatcher.
uninstrument_llamaindex = _adapter.uninstrument
#: Whether :func:`instrument_llamaindex` is in effect.
is_instrumented = _adapter.is_instrumented
