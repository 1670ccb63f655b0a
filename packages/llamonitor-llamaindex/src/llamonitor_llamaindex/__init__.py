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

import threading
from typing import Any

__all__ = ["instrument_llamaindex", "is_instrumented", "uninstrument_llamaindex"]
__version__ = "0.1.0"

_lock = threading.Lock()
_installed: tuple[Any, Any, Any] | None = None  # (dispatcher, span handler, event handler)


def instrument_llamaindex(*, capture_content: bool | None = None) -> bool:
    """Record LlamaIndex operations as llamonitor events (idempotent; ``True`` if this call installed).

    ``capture_content`` is accepted for symmetry with the other adapters (``None`` follows
    ``MonitorConfig.capture_content``). Raises ``ImportError`` naming the extra when
    ``llama-index-core`` is missing.
    """
    global _installed
    try:
        from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]

        from llamonitor_llamaindex._handlers import LlamonitorEventHandler, LlamonitorSpanHandler, _State
    except ImportError as exc:
        raise ImportError("instrument_llamaindex() needs LlamaIndex: "
                          "pip install 'llamonitor-llamaindex[llamaindex]'") from exc
    with _lock:
        if _installed is not None:
            _installed[1]._state.capture_content = capture_content
            return False
        state = _State(capture_content)
        dispatcher = get_dispatcher()  # the root dispatcher: every module's dispatcher propagates to it
        span_handler = LlamonitorSpanHandler(state)
        event_handler = LlamonitorEventHandler(state)
        dispatcher.add_span_handler(span_handler)
        dispatcher.add_event_handler(event_handler)
        _installed = (dispatcher, span_handler, event_handler)
        return True


def uninstrument_llamaindex() -> None:
    """Remove the handlers from the root dispatcher."""
    global _installed
    with _lock:
        if _installed is None:
            return
        dispatcher, span_handler, event_handler = _installed
        _installed = None
        dispatcher.span_handlers[:] = [h for h in dispatcher.span_handlers if h is not span_handler]
        dispatcher.event_handlers[:] = [h for h in dispatcher.event_handlers if h is not event_handler]


def is_instrumented() -> bool:
    """Whether :func:`instrument_llamaindex` is in effect."""
    return _installed is not None
