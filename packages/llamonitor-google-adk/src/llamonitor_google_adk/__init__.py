"""One-line llamonitor instrumentation for Google's Agent Development Kit (``google-adk`` 2.11 to 2.13).

::

    from llamonitor_google_adk import instrument_google_adk
    instrument_google_adk()        # before building the Runner

How it hooks in: an ADK plugin (``google.adk.plugins.BasePlugin``, ADK's own extension point for
monitoring), put first in the plugin list of every ``Runner`` built after the call (so it sees
the real model response and tool result even when a later plugin replaces them). Or register it
yourself without patching anything: ``App(..., plugins=[adk_plugin()])`` /
``Runner(..., plugins=[adk_plugin()])``. Each invocation (``runner.run_async``) becomes one
llamonitor trace:

- the invocation -> ``operation_type="workflow"`` (``google_adk.run <app>``); its session is the
  llamonitor session around the call, else the ADK session id;
- each agent run -> ``"agent"`` (``invoke_agent <name>``) with the true agent name; an agent
  reached through ``transfer_to_agent`` has ``agent.handoff_from`` set to the agent that
  transferred, on its own event and on every event under it;
- each model request -> ``"chat"`` with the model, provider and the usage the provider reported
  (Gemini's ``usage_metadata``: prompt, cached, thinking tokens);
- each tool call -> ``"tool"`` (``execute_tool <tool>``); a ``transfer_to_agent`` call ->
  ``"handoff"`` (``google_adk.from_agent`` / ``google_adk.to_agent``).

While a model request is in flight, SDK-level instrumentation is suppressed in its context, so
``instrument_anthropic()`` (ADK's ``Claude`` / ``AnthropicLlm``) or ``instrument_openai()``
(LiteLLM) does not record the same request again. ADK is imported only when
:func:`instrument_google_adk` or :func:`adk_plugin` is called; a version outside the tested
range raises :class:`UnsupportedVersion`. The plugin never raises into ADK: a failure is logged
once (logger ``llamonitor.google_adk``) and the run goes on untouched.
"""

from __future__ import annotations

import threading
from typing import Any

from llamonitor.instrumentation.adapter import Adapter, InstrumentOptions, UnsupportedVersion

from llamonitor_google_adk._recorder import FRAMEWORK, Recorder, usage_from

__all__ = ["FRAMEWORK", "PLUGIN_NAME", "SUPPORTED", "GoogleAdkAdapter", "InstrumentOptions", "UnsupportedVersion",
           "adk_plugin", "instrument_google_adk", "is_instrumented", "uninstrument_google_adk", "usage_from"]
__version__ = "0.1.0"

#: tested ``google-adk`` versions: [low, high)
SUPPORTED = ((2, 11), (2, 14))
#: the plugin's name in ADK's plugin manager (one per runner)
PLUGIN_NAME = "llamonitor"


def _make_plugin_class(adapter: GoogleAdkAdapter) -> type:
    """The ``BasePlugin`` subclass (built on first use: importing ADK takes seconds)."""
    from google.adk.plugins.base_plugin import BasePlugin

    rec = adapter.recorder

    class LlamonitorPlugin(BasePlugin):
        """Records ADK runs, agents, model calls and tools into llamonitor; always returns ``None``."""

        def __init__(self, *, automatic: bool) -> None:
            super().__init__(name=PLUGIN_NAME)
            #: registered by ``instrument_google_adk()`` (stops with ``uninstrument``), not by the user
            self.automatic = automatic

        def _on(self) -> bool:
            return adapter.is_instrumented() or not self.automatic

        async def before_run_callback(self, *, invocation_context: Any) -> None:
            if self._on():
                try:
                    rec.start_run(invocation_context)
                except Exception as exc:
                    adapter.report(exc, "run")
            return None

        async def after_run_callback(self, *, invocation_context: Any) -> None:
            try:
                rec.end_run(invocation_context)
            except Exception as exc:
                adapter.report(exc, "run")

        async def on_run_error_callback(self, *, invocation_context: Any, error: Exception) -> None:
            try:
                rec.end_run(invocation_context, error)
            except Exception as exc:
                adapter.report(exc, "run")

        async def before_agent_callback(self, *, agent: Any, callback_context: Any) -> None:
            if self._on():
                try:
                    rec.start_agent(agent, callback_context)
                except Exception as exc:
                    adapter.report(exc, "agent")
            return None

        async def after_agent_callback(self, *, agent: Any, callback_context: Any) -> None:
            try:
                rec.end_agent(agent, callback_context)
            except Exception as exc:
                adapter.report(exc, "agent")
            return None

        async def on_agent_error_callback(self, *, agent: Any, callback_context: Any, error: Exception) -> None:
            try:
                rec.end_agent(agent, callback_context, error)
            except Exception as exc:
                adapter.report(exc, "agent")

        async def before_model_callback(self, *, callback_context: Any, llm_request: Any) -> None:
            if self._on():
                try:
                    rec.start_model(callback_context, llm_request)
                except Exception as exc:
                    adapter.report(exc, "model")
            return None

        async def after_model_callback(self, *, callback_context: Any, llm_response: Any) -> None:
            try:
                rec.model_response(callback_context, llm_response)
            except Exception as exc:
                adapter.report(exc, "model")
            return None

        async def on_model_error_callback(self, *, callback_context: Any, llm_request: Any,
                                          error: Exception) -> None:
            try:
                rec.model_error(callback_context, error)
            except Exception as exc:
                adapter.report(exc, "model")
            return None

        async def before_tool_callback(self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any) -> None:
            if self._on():
                try:
                    rec.start_tool(tool, tool_args, tool_context)
                except Exception as exc:
                    adapter.report(exc, "tool")
            return None

        async def after_tool_callback(self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any,
                                      result: Any) -> None:
            try:
                rec.end_tool(tool, tool_context, result=result)
            except Exception as exc:
                adapter.report(exc, "tool")
            return None

        async def on_tool_error_callback(self, *, tool: Any, tool_args: dict[str, Any], tool_context: Any,
                                         error: BaseException) -> None:
            try:
                rec.end_tool(tool, tool_context, error=error)
            except Exception as exc:
                adapter.report(exc, "tool")
            return None

    return LlamonitorPlugin


class GoogleAdkAdapter(Adapter):
    """The ADK adapter: a plugin added to every ``Runner`` built while instrumented."""

    name = "google_adk"
    framework = FRAMEWORK
    distribution = "google-adk"
    module = "google.adk"
    supported = SUPPORTED
    install_hint = "pip install 'llamonitor-google-adk[adk]'"

    def __init__(self) -> None:
        super().__init__()
        self.recorder = Recorder(self.capture)
        self._plugin_lock = threading.Lock()
        self._plugin_cls: type | None = None
        self._auto: Any = None
        self._explicit: Any = None
        self._original_init: Any = None

    def plugin_class(self) -> type:
        """The ``BasePlugin`` subclass (imports ADK)."""
        with self._plugin_lock:
            if self._plugin_cls is None:
                self._plugin_cls = _make_plugin_class(self)
            return self._plugin_cls

    def explicit_plugin(self) -> Any:
        """The plugin for ``App(plugins=[...])``: records whether or not ``instrument`` was called."""
        self.import_framework()
        self.check_version()
        cls = self.plugin_class()
        with self._plugin_lock:
            if self._explicit is None:
                self._explicit = cls(automatic=False)
            return self._explicit

    def _install(self) -> None:
        from google.adk.runners import Runner

        cls = self.plugin_class()
        if self._auto is None:
            self._auto = cls(automatic=True)
        plugin = self._auto
        original = Runner.__dict__["__init__"]
        adapter = self

        def __init__(runner: Any, *args: Any, **kwargs: Any) -> None:
            original(runner, *args, **kwargs)
            try:
                manager = getattr(runner, "plugin_manager", None)
                if manager is not None and manager.get_plugin(PLUGIN_NAME) is None:
                    # First: our after-callbacks see the real response even if a later plugin replaces it.
                    manager.plugins.insert(0, plugin)
            except Exception as exc:
                adapter.report(exc, "register")

        __init__.__wrapped__ = original  # type: ignore[attr-defined]
        __init__.__doc__ = original.__doc__
        self._original_init = original
        setattr(Runner, "__init__", __init__)  # noqa: B010  (mypy: a plain function, not the typed method)

    def _uninstall(self) -> None:
        from google.adk.runners import Runner

        if self._original_init is not None:
            setattr(Runner, "__init__", self._original_init)  # noqa: B010
            self._original_init = None
        # Runners built meanwhile keep the plugin; it stops recording (``is_instrumented()`` is False).


_adapter = GoogleAdkAdapter()
#: Hook llamonitor into ADK: every ``Runner`` built afterwards gets the plugin. Returns ``True``
#: when it hooked in now, ``False`` when it already was (the options are updated). Raises
#: ``ImportError`` naming the extra when ADK is missing and :class:`UnsupportedVersion` (a
#: ``RuntimeError``) when its version is outside :data:`SUPPORTED`.
instrument_google_adk = _adapter.instrument
#: Stop recording: new runners get no plugin, and the plugin already in older runners records nothing.
uninstrument_google_adk = _adapter.uninstrument
#: Whether :func:`instrument_google_adk` is in effect.
is_instrumented = _adapter.is_instrumented


def adk_plugin() -> Any:
    """The llamonitor plugin to pass to ADK yourself, without :func:`instrument_google_adk`::

        app = App(name="shop", root_agent=coordinator, plugins=[adk_plugin()])

    One shared instance named :data:`PLUGIN_NAME` (a runner also built while instrumented does
    not get a second one). Raises like :func:`instrument_google_adk` when ADK is missing or
    outside :data:`SUPPORTED`.
    """
    return _adapter.explicit_plugin()
