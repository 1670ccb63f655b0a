"""One-line llamonitor instrumentation for smolagents (``smolagents`` 1.20 to 1.26).

::

    from llamonitor_smolagents import instrument_smolagents
    instrument_smolagents()        # before agent.run(...)

Every ``CodeAgent`` / ``ToolCallingAgent`` run becomes one trace of events carrying the agent's
true name (its ``name``; an unnamed top-level agent goes by its class name), with
``framework="smolagents"``:

- ``agent.run(...)`` -> ``"agent"`` (``invoke_agent <name>``); ``run(stream=True)`` ends when
  its steps do;
- each finished step (from the step-callback registry) -> ``"agent_step"``
  (``smolagents.step <n>``) or ``"agent_planning"``, with smolagents' own step timing;
- each model call (``generate`` / ``generate_stream`` of smolagents' model classes, and of your
  own ``Model`` subclass once an agent using it runs) -> ``"chat"`` with the usage the provider
  reported; SDK-level instrumentation (``instrument_openai()``) is suppressed inside, so one
  request is one event;
- each tool call (``Tool.__call__``) and each CodeAgent code execution
  (``execute_tool python_interpreter``) -> ``"tool"``;
- a manager calling a managed agent -> ``"handoff"`` (``smolagents.from_agent`` /
  ``smolagents.to_agent``), and every event of the managed agent's run carries
  ``agent.handoff_from`` = the manager. An agent run from inside another agent's tool is
  recorded the same way (``handoff_from`` = the calling agent).

How it hooks in: wrapt wrappers on public methods (``MultiStepAgent.run`` / ``__call__``,
``CallbackRegistry.callback``, ``<Model>.generate`` / ``generate_stream``, ``Tool.__call__``,
``LocalPythonExecutor.__call__``), installed from one table and restored exactly by
:func:`uninstrument_smolagents`. smolagents is imported only when :func:`instrument_smolagents`
is called; a version outside :data:`SUPPORTED` raises :class:`UnsupportedVersion`. Recording
never raises into smolagents: a failure is logged once and the call goes through untouched.
"""

from __future__ import annotations

import importlib
from typing import Any

import wrapt
from llamonitor.instrumentation.adapter import InstrumentOptions, UnsupportedVersion
from llamonitor.instrumentation.patching import PatchingAdapter, Target

from llamonitor_smolagents._record import FRAMEWORK, Recorder

__all__ = ["SUPPORTED", "InstrumentOptions", "SmolagentsAdapter", "UnsupportedVersion", "instrument_smolagents",
           "is_instrumented", "uninstrument_smolagents"]
__version__ = "0.1.0"

#: tested ``smolagents`` versions: [low, high)
SUPPORTED: tuple[tuple[int, ...], tuple[int, ...]] = ((1, 20), (1, 27))

#: smolagents' model classes whose ``generate`` / ``generate_stream`` are wrapped (aliases are
#: resolved: ``OpenAIServerModel`` and ``OpenAIModel`` are one class)
MODEL_CLASSES = ("OpenAIModel", "OpenAIServerModel", "AzureOpenAIModel", "AzureOpenAIServerModel", "LiteLLMModel",
                 "LiteLLMRouterModel", "InferenceClientModel", "AmazonBedrockModel", "AmazonBedrockServerModel",
                 "TransformersModel", "VLLMModel", "MLXModel")
_MODEL_METHODS = ("generate", "generate_stream")


class SmolagentsAdapter(PatchingAdapter):
    """The smolagents adapter (use the module functions bound to its one instance)."""

    name = "smolagents"
    framework = FRAMEWORK
    distribution = "smolagents"
    module = "smolagents"
    supported = SUPPORTED
    install_hint = "pip install 'llamonitor-smolagents[smolagents]'"

    def __init__(self) -> None:
        super().__init__()
        self.recorder = Recorder(self)
        #: user ``Model`` subclasses wrapped when an agent using them ran: (class, method, original)
        self._extra: list[tuple[type, str, Any]] = []
        self._checked: set[type] = set()

    def targets(self) -> list[Target]:
        r = self.recorder
        targets: list[Target] = [
            ("smolagents.agents", "MultiStepAgent", "run", r.run_wrapper),
            ("smolagents.agents", "MultiStepAgent", "__call__", r.call_wrapper),
            ("smolagents.memory", "CallbackRegistry", "callback", r.callback_wrapper),
            ("smolagents.tools", "Tool", "__call__", r.tool_wrapper),
            ("smolagents.tools", "PipelineTool", "__call__", r.tool_wrapper),
            ("smolagents.local_python_executor", "LocalPythonExecutor", "__call__", r.executor_wrapper),
        ]
        models = importlib.import_module("smolagents.models")
        seen: set[int] = set()
        for cls_name in MODEL_CLASSES:
            cls = getattr(models, cls_name, None)
            if cls is None or id(cls) in seen:  # an alias of a class already listed
                continue
            seen.add(id(cls))
            targets += [("smolagents.models", cls_name, "generate", r.generate_wrapper),
                        ("smolagents.models", cls_name, "generate_stream", r.generate_stream_wrapper)]
        return targets

    def _install(self) -> None:
        with self.patcher.lock:
            super()._install()
            self.recorder.enabled = True

    def _uninstall(self) -> None:
        with self.patcher.lock:
            self.recorder.enabled = False
            try:
                super()._uninstall()
            finally:
                while self._extra:
                    cls, method, original = self._extra.pop()
                    setattr(cls, method, original)
                self._checked.clear()
        with self.recorder.lock:
            self.recorder.running.clear()

    def ensure_model_class(self, cls: type) -> None:
        """Wrap ``generate`` / ``generate_stream`` of a ``Model`` subclass defined outside smolagents.

        Called when an agent using such a model starts a run; each class is looked at once.
        """
        if cls in self._checked:
            return
        with self.patcher.lock:
            if cls in self._checked or not self.recorder.enabled:
                return
            self._checked.add(cls)
            wrappers = {"generate": self.recorder.generate_wrapper,
                        "generate_stream": self.recorder.generate_stream_wrapper}
            for method in _MODEL_METHODS:
                for owner in cls.__mro__:
                    if method not in owner.__dict__:
                        continue
                    # smolagents' own classes are in the table; Model.generate only raises
                    if owner.__module__.startswith("smolagents") or isinstance(owner.__dict__[method],
                                                                                wrapt.FunctionWrapper):
                        break
                    original = owner.__dict__[method]
                    wrapt.wrap_function_wrapper(owner, method, wrappers[method])
                    self._extra.append((owner, method, original))
                    break


_adapter = SmolagentsAdapter()
instrument_smolagents = _adapter.instrument
uninstrument_smolagents = _adapter.uninstrument
is_instrumented = _adapter.is_instrumented
