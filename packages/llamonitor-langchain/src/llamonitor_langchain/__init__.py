"""llamonitor callback handler for LangChain and LangGraph.

::

    from llamonitor_langchain import LlamonitorCallbackHandler, instrument_langchain
    chain.invoke(x, config={"callbacks": [LlamonitorCallbackHandler()]})   # per call
    instrument_langchain()                                                 # or globally

``langchain-core`` is imported only when the handler is used or :func:`instrument_langchain` is
called; a missing install raises an ``ImportError`` naming the extra.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llamonitor_langchain._handler import LlamonitorCallbackHandler

__all__ = ["LlamonitorCallbackHandler", "instrument_langchain", "is_instrumented", "uninstrument_langchain"]
__version__ = "0.1.0"

_lock = threading.Lock()
_hook_registered = False
_global_handler: Any = None


def _import_handler() -> Any:
    try:
        from llamonitor_langchain import _handler
    except ImportError as exc:
        raise ImportError("llamonitor-langchain needs LangChain: pip install 'llamonitor-langchain[langchain]'"
                          ) from exc
    return _handler


def __getattr__(name: str) -> Any:
    if name == "LlamonitorCallbackHandler":
        return _import_handler().LlamonitorCallbackHandler
    raise AttributeError(name)


class _GlobalHandlerVar:
    """Duck-typed ``ContextVar`` for ``register_configure_hook``: its value is process-wide, so
    runs started in any thread or task (LangGraph's pools included) get the handler."""

    name = "llamonitor_langchain_global_handler"

    def get(self, default: Any = None) -> Any:
        return _global_handler


_VAR = _GlobalHandlerVar()


def instrument_langchain(*, capture_content: bool | None = None, record_chains: bool = True) -> bool:
    """Attach a :class:`LlamonitorCallbackHandler` to every LangChain / LangGraph run, globally.

    Uses langchain-core's ``register_configure_hook`` (the mechanism its own tracers use), so the
    handler is added to every callback manager LangChain configures, inheritable to child runs,
    and never twice. Returns ``True`` when this call installed it, ``False`` if it already was
    (the options are then updated). :func:`uninstrument_langchain` removes it.
    """
    global _hook_registered, _global_handler
    handler_mod = _import_handler()
    with _lock:
        if not _hook_registered:
            from langchain_core.tracers.context import register_configure_hook

            register_configure_hook(_VAR, inheritable=True)  # type: ignore[arg-type]
            _hook_registered = True
        if _global_handler is not None:
            _global_handler.capture_content = capture_content
            _global_handler.record_chains = record_chains
            return False
        _global_handler = handler_mod.LlamonitorCallbackHandler(capture_content=capture_content,
                                                               record_chains=record_chains)
        return True


def uninstrument_langchain() -> None:
    """Stop attaching the global handler to new runs."""
    global _global_handler
    with _lock:
        _global_handler = None


def is_instrumented() -> bool:
    """Whether :func:`instrument_langchain` is in effect."""
    return _global_handler is not None
