"""One-line llamonitor instrumentation for PydanticAI (``pydantic-ai`` 2.x).

::

    from llamonitor_pydantic_ai import instrument_pydantic_ai
    instrument_pydantic_ai()        # before agent.run(...)

How it hooks in: a PydanticAI *capability* (the framework's public extension point for lifecycle
hooks) that wraps every agent run, model request and tool execution. :func:`instrument_pydantic_ai`
adds it to every run of every :class:`pydantic_ai.Agent` through the public ``capabilities=``
argument of ``Agent.iter`` (which ``run``, ``run_sync``, ``run_stream`` and ``run_stream_events``
all go through); to instrument single agents instead, pass :class:`LlamonitorCapability` yourself:
``Agent(..., capabilities=[LlamonitorCapability()])``. Each becomes one event:

- agent run -> ``operation_type="agent"`` (``invoke_agent <name>``), identity from
  ``Agent(name=...)``; an agent run started while another agent is working (an agent calling
  another from inside a tool) has ``agent.handoff_from`` set to the agent that delegated;
- model request -> ``"chat"`` (``chat <model>``) with the model the provider answered with and the
  usage it reported (streamed requests included);
- tool execution -> ``"tool"`` (``execute_tool <name>``), parent of whatever the tool runs (a
  delegate agent's run included).

Every event under an agent run carries that agent's identity (``framework="pydantic-ai"``). Model
requests run inside :func:`llamonitor.tracing.suppress_instrumentation`, so ``instrument_openai()``
does not record the same request a second time.

PydanticAI is imported only when :func:`instrument_pydantic_ai` is called (or
:class:`LlamonitorCapability` is first used); a version outside :data:`SUPPORTED` raises
:class:`~llamonitor.instrumentation.adapter.UnsupportedVersion`. The hooks never raise into
PydanticAI: a failure of ours is logged once and the run goes on untouched.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any

from llamonitor.instrumentation.adapter import Adapter, InstrumentOptions, UnsupportedVersion

if TYPE_CHECKING:
    from llamonitor_pydantic_ai._capability import LlamonitorCapability

__all__ = ["FRAMEWORK", "SUPPORTED", "InstrumentOptions", "LlamonitorCapability", "PydanticAIAdapter",
           "UnsupportedVersion", "instrument_pydantic_ai", "is_instrumented", "uninstrument_pydantic_ai"]
__version__ = "0.1.0"

#: ``AgentIdentity.framework`` of the events recorded here
FRAMEWORK = "pydantic-ai"
#: tested ``pydantic-ai-slim`` versions: [low, high)
SUPPORTED = ((2, 0), (3, 0))


class PydanticAIAdapter(Adapter):
    """Adds :class:`LlamonitorCapability` to every ``Agent`` run (see the module doc)."""

    name = "pydantic_ai"
    framework = FRAMEWORK
    distribution = "pydantic-ai-slim"
    module = "pydantic_ai"
    supported = SUPPORTED
    install_hint = "pip install 'llamonitor-pydantic-ai[pydantic-ai]'"

    def __init__(self) -> None:
        super().__init__()
        self._original_iter: Any = None
        self._patched_iter: Any = None
        self._capability: Any = None

    def _install(self) -> None:
        from pydantic_ai import Agent

        from llamonitor_pydantic_ai._capability import LlamonitorCapability, agent_has_llamonitor

        original = Agent.__dict__["iter"]
        capability = LlamonitorCapability(adapter=self)

        @functools.wraps(original)
        def iter(agent: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                given = kwargs.get("capabilities")
                if self._installed and not _in_temporal_workflow() and not agent_has_llamonitor(agent, given):
                    kwargs["capabilities"] = [*(given or ()), capability]
            except Exception as exc:
                self.report(exc, "iter")
            return original(agent, *args, **kwargs)

        Agent.iter = iter  # type: ignore[method-assign,assignment]
        self._original_iter, self._patched_iter, self._capability = original, iter, capability

    def _uninstall(self) -> None:
        from pydantic_ai import Agent

        if Agent.__dict__.get("iter") is self._patched_iter:
            Agent.iter = self._original_iter  # type: ignore[method-assign]
        else:  # someone wrapped it after us: leave theirs in place, ours passes through when uninstalled
            self.warn_once("uninstall", "Agent.iter was wrapped again after instrument_pydantic_ai(); "
                                        "left in place")
        self._original_iter = self._patched_iter = self._capability = None


def _in_temporal_workflow() -> bool:
    """Inside a Temporal workflow PydanticAI refuses capabilities added per run: add none there."""
    workflow = sys.modules.get("temporalio.workflow")
    if workflow is None:
        return False
    try:
        return bool(workflow.in_workflow())
    except Exception:
        return False


_adapter = PydanticAIAdapter()
instrument_pydantic_ai = _adapter.instrument
uninstrument_pydantic_ai = _adapter.uninstrument
is_instrumented = _adapter.is_instrumented


def __getattr__(name: str) -> Any:
    # LlamonitorCapability subclasses PydanticAI's AbstractCapability: imported on first use only,
    # so this package imports without the framework installed.
    if name == "LlamonitorCapability":
        from llamonitor_pydantic_ai._capability import LlamonitorCapability

        return LlamonitorCapability
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
