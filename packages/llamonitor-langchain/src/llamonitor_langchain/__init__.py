"""llamonitor callback handler for LangChain and LangGraph.

::

    from llamonitor_langchain import LlamonitorCallbackHandler, instrument_langchain
    chain.invoke(x, config={"callbacks": [LlamonitorCallbackHandler()]})   # per call
    instrument_langchain()                                                 # or globally

``langchain-core`` is imported only when the handler is used or :func:`instrument_langchain` is
called; a missing install raises an ``ImportError`` naming the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llamonitor.instrumentation.adapter import Adapter, InstrumentOptions

if TYPE_CHECKING:
    from llamonitor_langchain._handler import LlamonitorCallbackHandler

__all__ = ["InstrumentOptions", "LangChainAdapter", "LlamonitorCallbackHandler", "instrument_langchain",
           "is_instrumented", "uninstrument_langchain"]
__version__ = "0.1.0"

_INSTALL_HINT = "pip install 'llamonitor-langchain[langchain]'"


def _import_handler() -> Any:
    try:
        from llamonitor_langchain import _handler
    except ImportError as exc:
        raise ImportError(f"llamonitor-langchain needs LangChain: {_INSTALL_HINT}") from exc
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
        return _adapter.handler


_VAR = _GlobalHandlerVar()


class LangChainAdapter(Adapter):
    """One global :class:`LlamonitorCallbackHandler` on every LangChain / LangGraph run.

    Uses langchain-core's ``register_configure_hook`` (the mechanism its own tracers use), so the
    handler is added to every callback manager LangChain configures, inheritable to child runs,
    and never twice.
    """

    name = "langchain"
    framework = "langchain"
    distribution = "langchain-core"
    module = "langchain_core"
    install_hint = _INSTALL_HINT

    def __init__(self) -> None:
        super().__init__()
        self.handler: Any = None
        self.record_chains = True
        self._hook_registered = False

    def instrument(self, options: InstrumentOptions | None = None, *, capture_content: bool | None = None,
                   record_chains: bool = True) -> bool:
        """Attach the handler to every run, globally; ``record_chains=False`` records LLM, tool and
        retriever runs only. Returns ``True`` when this call installed it, ``False`` if it already
        was (the options are then updated)."""
        with self.lock:
            self.record_chains = record_chains
            installed = super().instrument(options, capture_content=capture_content)
            if not installed and self.handler is not None:
                self.handler.capture_content = self.options.capture_content
                self.handler.record_chains = record_chains
            return installed

    def _install(self) -> None:
        handler_mod = _import_handler()
        if not self._hook_registered:
            from langchain_core.tracers.context import register_configure_hook

            register_configure_hook(_VAR, inheritable=True)  # type: ignore[arg-type]
            self._hook_registered = True  # the hook stays; with no handler it adds nothing
        self.handler = handler_mod.LlamonitorCallbackHandler(capture_content=self.options.capture_content,
                                                             record_chains=self.record_chains)

    def _uninstall(self) -> None:
        self.handler = None


_adapter = LangChainAdapter()
#: Attach a :class:`LlamonitorCallbackHandler` to every LangChain / LangGraph run, globally.
instrument_langchain = _adapter.instrument
#: Stop attaching the global handler to new runs.
uninstrument_langchain = _adapter.uninstrument
#: Whether :func:`instrument_langchain` is in effect.
is_instrumented = _adapter.is_instrumented
