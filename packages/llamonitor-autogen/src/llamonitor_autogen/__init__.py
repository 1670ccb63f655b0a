"""One-line llamonitor instrumentation for AutoGen (autogen-agentchat >= 0.7) and AG2 0.x.

::

    from llamonitor_autogen import instrument_autogen
    instrument_autogen()     # autogen-agentchat teams, and AG2 (classic ``autogen``) agents

autogen-agentchat: every team run (RoundRobinGroupChat, SelectorGroupChat, Swarm, ...) is a
``team`` event, each participant turn an ``agent`` event (``agent.agent_name`` = the
participant's name, ``agent.handoff_from`` = the previous speaker, i.e. who handed over), and
each model request a ``chat`` event under the turn with the tokens the client returned.

AG2 0.x (``import autogen``): every chat completion is a ``chat`` event carrying the sending
agent's name and AG2's cost, recorded through AG2's runtime logging; each message one agent
sends another is a ``handoff`` event (``agent.agent_name`` = recipient, ``agent.handoff_from`` =
sender), recorded through the ``process_message_before_send`` hook.

With ``instrument_openai()`` active too, each LLM request still produces one event: the OpenAI
SDK call made inside an instrumented AutoGen / AG2 model call is suppressed.

AG2 1.x is a different API (``import ag2``, no ``ConversableAgent``) and is not supported yet:
:func:`instrument_autogen` says so with :class:`UnsupportedAutoGenVersion`. Frameworks are
imported only when :func:`instrument_autogen` is called; hooks never raise into the framework.
"""

from __future__ import annotations

import importlib.util
import sys

from llamonitor.instrumentation.adapter import Adapter, InstrumentOptions

__all__ = ["AutoGenAdapter", "InstrumentOptions", "UnsupportedAutoGenVersion", "instrument_autogen",
           "is_instrumented", "uninstrument_autogen"]
__version__ = "0.1.0"

SUPPORTED = "autogen-agentchat>=0.7 (extra 'agentchat') and AG2 0.x >=0.14,<1 as classic `autogen` (extra 'ag2')"


class UnsupportedAutoGenVersion(RuntimeError):
    """The installed AutoGen / AG2 is a version this adapter does not support."""


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _classic_ag2_available() -> bool:
    """Whether ``import autogen`` is AG2 0.x / classic AutoGen (raises on AG2 1.x)."""
    if _has("autogen"):
        import autogen

        if hasattr(autogen, "ConversableAgent"):
            return True
    if _has("ag2"):
        import ag2

        if not hasattr(ag2, "ConversableAgent"):
            version = getattr(ag2, "__version__", "1.x")
            raise UnsupportedAutoGenVersion(
                f"AG2 {version} (`import ag2`) is a different API that llamonitor-autogen does not support yet; "
                f"supported: {SUPPORTED}. Pin `ag2>=0.14,<1` to use AG2 with llamonitor.")
    return False


class AutoGenAdapter(Adapter):
    """autogen-agentchat (model-client and agent-container patches) and AG2 0.x (runtime logging, hooks)."""

    name = "autogen"
    framework = "autogen"

    def __init__(self) -> None:
        super().__init__()
        self.agentchat: bool | None = None
        self.ag2: bool | None = None

    def instrument(self, options: InstrumentOptions | None = None, *, capture_content: bool | None = None,
                   agentchat: bool | None = None, ag2: bool | None = None) -> bool:
        """Instrument autogen-agentchat and / or AG2 classic (idempotent; ``True`` if this call hooked in).

        ``None`` (the default) instruments each framework that is installed; ``True`` requires it
        (:class:`ImportError` naming the extra if missing); ``False`` skips it. Raises
        :class:`UnsupportedAutoGenVersion` for AG2 1.x. ``capture_content=None`` follows
        ``MonitorConfig.capture_content``.
        """
        with self.lock:
            self.agentchat, self.ag2 = agentchat, ag2
            if super().instrument(options, capture_content=capture_content):
                return True
            self._install()  # already on: a flavour asked for now is added (each flavour's hooks are idempotent)
            return False

    def _install(self) -> None:
        agentchat, ag2 = self.agentchat, self.ag2
        done = False
        if agentchat is not False:
            if _has("autogen_agentchat") and _has("autogen_core"):
                from llamonitor_autogen import _agentchat

                _agentchat.instrument()
                done = True
            elif agentchat:
                raise ImportError("autogen-agentchat is not installed: pip install 'llamonitor-autogen[agentchat]'")
        if ag2 is not False:
            if _classic_ag2_available():
                from llamonitor_autogen import _ag2

                _ag2.instrument()
                done = True
            elif ag2:
                raise ImportError("AG2 (classic `autogen`) is not installed: pip install 'llamonitor-autogen[ag2]'")
        if not done and agentchat is None and ag2 is None:
            raise ImportError(f"neither AutoGen flavour is installed; supported: {SUPPORTED}. "
                              "pip install 'llamonitor-autogen[agentchat]' or 'llamonitor-autogen[ag2]'")

    def _uninstall(self) -> None:
        for name in ("_agentchat", "_ag2"):
            module = sys.modules.get(f"llamonitor_autogen.{name}")
            if module is not None:
                module.uninstrument()


_adapter = AutoGenAdapter()
#: Instrument autogen-agentchat and / or AG2 classic (see :meth:`AutoGenAdapter.instrument`).
instrument_autogen = _adapter.instrument
#: Remove every hook :func:`instrument_autogen` installed.
uninstrument_autogen = _adapter.uninstrument
#: Whether any AutoGen / AG2 hook is active.
is_instrumented = _adapter.is_instrumented
