"""Real smolagents runs against the fake provider: runs, steps, managed agents as handoffs, tools, usage."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider

pytestmark = pytest.mark.usefixtures("smol_instrumented")

QUIET = -1  # smolagents' LogLevel.OFF: no rich console output


def _model(fake: FakeProvider) -> Any:
    from smolagents import OpenAIServerModel

    return OpenAIServerModel(model_id="gpt-4o-mini", api_base=fake.openai_base_url, api_key="test",
                             client_kwargs={"max_retries": 0})


def _lookup_tool() -> Any:
    from smolagents import tool

    @tool
    def lookup_order(order_id: str) -> str:
        """Look an order up.

        Args:
            order_id: the order's id
        """
        return f"order {order_id}: shipped"

    return lookup_order


def _code(text: str) -> str:
    return f"Thought: on it\n```py\n{text}\n```"


def _by_time(events: list[Any], op: str | None = None) -> list[Any]:
    return sorted((e for e in events if op is None or e.operation_type == op), key=lambda e: e.start_time_ns)


def test_tool_calling_manager_hands_over_to_a_managed_code_agent(fake_provider: FakeProvider,
                                                                  memory_monitoring: Any) -> None:
    from smolagents import CodeAgent, ToolCallingAgent

    researcher = CodeAgent(tools=[_lookup_tool()], model=_model(fake_provider), name="researcher",
                           description="Looks orders up.", verbosity_level=QUIET)
    manager = ToolCallingAgent(tools=[], model=_model(fake_provider), managed_agents=[researcher], name="manager",
                               verbosity_level=QUIET)
    # additional_args: smolagents < 1.22 requires it on a managed agent's call
    fake_provider.reply(tool_calls=[("researcher", {"task": "find order 42", "additional_args": {}})],
                        input_tokens=40, output_tokens=6)
    fake_provider.reply(text=_code("print(lookup_order(order_id='42'))"), input_tokens=50, output_tokens=8)
    fake_provider.reply(text=_code("final_answer('order 42 shipped')"), input_tokens=60, output_tokens=9)
    fake_provider.reply(tool_calls=[("final_answer", {"answer": "Order 42 shipped"})], input_tokens=70,
                        output_tokens=5)
    assert manager.run("where is order 42?") == "Order 42 shipped"
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 4
    by_span = {e.span_id: e for e in events}
    assert len({e.trace_id for e in events}) == 1
    assert all(e.agent is not None and e.agent.framework == "smolagents" for e in events)

    runs = _by_time(events, "agent")
    assert [(r.agent.agent_name, r.agent.handoff_from) for r in runs] == [("manager", None), ("researcher", "manager")]
    manager_run, researcher_run = runs
    assert manager_run.parent_span_id is None
    assert manager_run.custom_attributes["smolagents.agent_class"] == "ToolCallingAgent"
    assert manager_run.custom_attributes["smolagents.managed_agents"] == ["researcher"]
    assert manager_run.custom_attributes["smolagents.steps"] == 2
    assert manager_run.model is None and manager_run.custom_attributes["smolagents.model_id"] == "gpt-4o-mini"
    # Every event of the managed agent's run carries the manager as handoff_from.
    inside = [e for e in events if e.agent.agent_name == "researcher"]
    assert len(inside) == 9 and all(e.agent.handoff_from == "manager" for e in inside)

    (handoff,) = _by_time(events, "handoff")
    assert handoff.agent.agent_name == "manager"
    assert handoff.custom_attributes["smolagents.from_agent"] == "manager"
    assert handoff.custom_attributes["smolagents.to_agent"] == "researcher"
    assert researcher_run.parent_span_id == handoff.span_id
    assert by_span[handoff.parent_span_id].operation_name == "smolagents.step 1"
    assert by_span[handoff.parent_span_id].agent.agent_name == "manager"

    chats = _by_time(events, "chat")
    assert [(c.agent.agent_name, c.usage.input_tokens, c.usage.output_tokens) for c in chats] == [
        ("manager", 40, 6), ("researcher", 50, 8), ("researcher", 60, 9), ("manager", 70, 5)]
    assert all(c.model.startswith("gpt-4o-mini") and c.provider == "openai" and c.usage.source == "provider"
               for c in chats)
    assert [by_span[c.parent_span_id].operation_name for c in chats] == [
        "smolagents.step 1", "smolagents.step 1", "smolagents.step 2", "smolagents.step 2"]
    # Tokens are stored once, on the model calls (steps and runs carry none).
    assert sum(e.usage.input_tokens for e in events if e.usage) == 220

    steps = _by_time(events, "agent_step")
    assert [(s.agent.agent_name, s.custom_attributes["smolagents.step_number"]) for s in steps] == [
        ("manager", 1), ("researcher", 1), ("researcher", 2), ("manager", 2)]
    assert all(by_span[s.parent_span_id].operation_type == "agent" for s in steps)
    assert steps[0].custom_attributes["smolagents.tool_calls"] == ["researcher"]
    assert steps[3].custom_attributes.get("smolagents.final_answer") is True
    assert all(s.start_time_ns <= c.start_time_ns and c.end_time_ns <= s.end_time_ns + 1_000_000
               for s in steps for c in chats if c.parent_span_id == s.span_id)

    tools = _by_time(events, "tool")
    assert [(t.agent.agent_name, t.custom_attributes["gen_ai.tool.name"]) for t in tools] == [
        ("researcher", "python_interpreter"), ("researcher", "lookup_order"),
        ("researcher", "python_interpreter"), ("researcher", "final_answer"), ("manager", "final_answer")]
    code_runs = [t for t in tools if t.custom_attributes["gen_ai.tool.name"] == "python_interpreter"]
    assert by_span[tools[1].parent_span_id] is code_runs[0]  # the tool its code called
    assert code_runs[1].custom_attributes.get("smolagents.final_answer") is True
    assert not any(e.error for e in events)


def test_code_agent_manager_calls_a_managed_agent_from_its_code(fake_provider: FakeProvider,
                                                                memory_monitoring: Any) -> None:
    """The managed agent is called by the CodeAgent's code, which smolagents (>= 1.24) runs on a pool
    thread without the caller's context: the handoff is still found, in the same trace."""
    from smolagents import CodeAgent, ToolCallingAgent

    billing = ToolCallingAgent(tools=[_lookup_tool()], model=_model(fake_provider), name="billing",
                               description="Answers billing questions.", verbosity_level=QUIET)
    boss = CodeAgent(tools=[], model=_model(fake_provider), managed_agents=[billing], name="boss",
                     verbosity_level=QUIET)
    fake_provider.reply(text=_code("report = billing(task='status of order 7')\nfinal_answer(report)"),
                        input_tokens=30, output_tokens=12)
    fake_provider.reply(tool_calls=[("lookup_order", {"order_id": "7"})], input_tokens=20, output_tokens=4)
    fake_provider.reply(tool_calls=[("final_answer", {"answer": "shipped"})], input_tokens=25, output_tokens=3)
    result = boss.run("what about order 7?")
    assert "shipped" in str(result)
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 3
    by_span = {e.span_id: e for e in events}
    assert len({e.trace_id for e in events}) == 1
    (handoff,) = _by_time(events, "handoff")
    code_run = by_span[handoff.parent_span_id]
    assert code_run.custom_attributes["gen_ai.tool.name"] == "python_interpreter"
    assert code_run.agent.agent_name == "boss"
    billing_run = next(e for e in events if e.operation_type == "agent" and e.agent.agent_name == "billing")
    assert billing_run.parent_span_id == handoff.span_id
    assert all(e.agent.handoff_from == "boss" for e in events if e.agent.agent_name == "billing")
    (lookup,) = [e for e in events if e.custom_attributes.get("gen_ai.tool.name") == "lookup_order"]
    assert lookup.agent.agent_name == "billing"
    chats = _by_time(events, "chat")
    assert [(c.agent.agent_name, c.usage.input_tokens) for c in chats] == [("boss", 30), ("billing", 20),
                                                                         ("billing", 25)]


def test_openai_sdk_patch_does_not_record_twice(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from llamonitor_openai import instrument_openai, uninstrument_openai
    from smolagents import CodeAgent

    instrument_openai()
    try:
        agent = CodeAgent(tools=[], model=_model(fake_provider), name="solo", verbosity_level=QUIET)
        fake_provider.reply(text=_code("final_answer('hi')"), input_tokens=5, output_tokens=2, cached_tokens=3,
                            reasoning_tokens=1)
        assert agent.run("say hi") == "hi"
        # Outside an agent's model call the OpenAI patch still records (the suppression ended with the call).
        from openai import OpenAI

        OpenAI(base_url=fake_provider.openai_base_url, api_key="test", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "plain"}])
    finally:
        uninstrument_openai()
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 2
    chats = _by_time(events, "chat")
    assert [(e.agent.framework if e.agent else None, e.usage.input_tokens) for e in chats] == [
        ("smolagents", 5), (None, 12)]
    # The provider's full usage (cached / reasoning detail), as the OpenAI adapter would have recorded it.
    assert (chats[0].usage.cached_input_tokens, chats[0].usage.reasoning_tokens) == (3, 1)
    assert chats[0].response_model is not None and chats[0].response_model.startswith("gpt-4o-mini")
    assert "gen_ai.response.model" not in chats[0].custom_attributes


def test_streamed_run_and_streamed_model_output(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from smolagents import CodeAgent, ToolCallingAgent
    from smolagents.memory import FinalAnswerStep

    agent = CodeAgent(tools=[_lookup_tool()], model=_model(fake_provider), name="streamer", stream_outputs=True,
                      verbosity_level=QUIET)
    fake_provider.reply(text=_code("print(lookup_order(order_id='1'))"), input_tokens=11, output_tokens=3)
    fake_provider.reply(text=_code("final_answer('done')"), input_tokens=13, output_tokens=4)
    items = list(agent.run("go", stream=True))
    assert isinstance(items[-1], FinalAnswerStep) and items[-1].output == "done"
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 2
    assert all(r.json.get("stream") is True for r in fake_provider.requests)
    chats = _by_time(events, "chat")
    assert [(c.usage.input_tokens, c.usage.output_tokens) for c in chats] == [(11, 3), (13, 4)]
    assert all(c.custom_attributes["stream"] is True and c.custom_attributes["stream_completed"] is True
               for c in chats)
    (run,) = _by_time(events, "agent")
    assert run.custom_attributes["smolagents.stream"] is True and run.custom_attributes["smolagents.steps"] == 2
    assert all(e.trace_id == run.trace_id and e.agent.agent_name == "streamer" for e in events)
    assert run.end_time_ns >= max(e.end_time_ns for e in events if e is not run)

    # A stream the caller stops early ends the run event too.
    memory_monitoring.clear()
    fake_provider.reset()
    quitter = ToolCallingAgent(tools=[_lookup_tool()], model=_model(fake_provider), name="quitter",
                               verbosity_level=QUIET)
    fake_provider.reply(tool_calls=[("lookup_order", {"order_id": "3"})], input_tokens=9, output_tokens=2)
    steps = quitter.run("go", stream=True)
    next(steps)
    # smolagents' step generator yields its step from a finally block, so closing it mid-step raises
    # this itself; the error reaches the caller unchanged and the run is still recorded.
    with pytest.raises(RuntimeError, match="generator ignored GeneratorExit"):
        steps.close()
    events = memory_monitoring.flush()
    (run,) = _by_time(events, "agent")
    assert run.agent.agent_name == "quitter" and run.custom_attributes["smolagents.stream_closed"] is True
    assert run.error_type == "RuntimeError"


def test_provider_error_is_recorded_on_the_call_and_the_run(fake_provider: FakeProvider,
                                                            memory_monitoring: Any) -> None:
    from smolagents import ToolCallingAgent
    from smolagents.utils import AgentGenerationError

    agent = ToolCallingAgent(tools=[], model=_model(fake_provider), name="fragile", verbosity_level=QUIET)
    fake_provider.error(500, "boom")
    with pytest.raises(AgentGenerationError, match="boom"):
        agent.run("anything")
    events = memory_monitoring.flush()
    assert len(fake_provider.requests) == 1
    (chat,) = _by_time(events, "chat")
    assert chat.error and chat.error_type == "InternalServerError"
    assert chat.custom_attributes["http.response.status_code"] == 500
    (run,) = _by_time(events, "agent")
    assert run.error and run.error_type == "AgentGenerationError"
    (step,) = _by_time(events, "agent_step")
    assert chat.parent_span_id == step.span_id and step.parent_span_id == run.span_id


def test_tool_error_and_parallel_tool_calls(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from smolagents import ToolCallingAgent, tool

    @tool
    def flaky(x: str) -> str:
        """Fails.

        Args:
            x: anything
        """
        raise ValueError("flaky tool failed")

    agent = ToolCallingAgent(tools=[_lookup_tool(), flaky], model=_model(fake_provider), name="worker",
                             verbosity_level=QUIET)
    fake_provider.reply(tool_calls=[("flaky", {"x": "1"})], input_tokens=10, output_tokens=2)
    fake_provider.reply(tool_calls=[("lookup_order", {"order_id": "1"}), ("lookup_order", {"order_id": "2"})],
                        input_tokens=11, output_tokens=3)
    fake_provider.reply(tool_calls=[("final_answer", {"answer": "both shipped"})], input_tokens=12, output_tokens=4)
    assert agent.run("check orders 1 and 2") == "both shipped"
    events = memory_monitoring.flush()
    by_span = {e.span_id: e for e in events}
    steps = _by_time(events, "agent_step")
    assert [s.error for s in steps] == [True, False, False]
    assert steps[0].custom_attributes["smolagents.error_type"] == "AgentToolExecutionError"
    (failed,) = [e for e in events if e.operation_type == "tool" and e.error]
    assert failed.custom_attributes["gen_ai.tool.name"] == "flaky" and failed.error_type == "ValueError"
    assert by_span[failed.parent_span_id] is steps[0]
    lookups = [e for e in events if e.custom_attributes.get("gen_ai.tool.name") == "lookup_order"]
    # Run on smolagents' thread pool: still the agent's, under its second step.
    assert len(lookups) == 2 and {by_span[e.parent_span_id].span_id for e in lookups} == {steps[1].span_id}
    assert all(e.agent.agent_name == "worker" and e.trace_id == steps[1].trace_id for e in lookups)


@pytest.mark.monitor_config(capture_content=True)
def test_content_capture_and_planning_step(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from smolagents import CodeAgent

    agent = CodeAgent(tools=[_lookup_tool()], model=_model(fake_provider), planning_interval=5,
                      verbosity_level=QUIET)
    fake_provider.reply(text="1. look the order up\n2. answer", input_tokens=7, output_tokens=5)
    fake_provider.reply(text=_code("final_answer(lookup_order(order_id='9'))"), input_tokens=8, output_tokens=6)
    assert agent.run("where is order 9?") == "order 9: shipped"
    events = memory_monitoring.flush()
    by_span = {e.span_id: e for e in events}
    (run,) = _by_time(events, "agent")
    assert run.agent.agent_name == "CodeAgent"  # no name: the class name
    assert run.input_content == "where is order 9?" and run.output_content == "order 9: shipped"
    (plan,) = _by_time(events, "agent_planning")
    assert "look the order up" in plan.output_content
    chats = _by_time(events, "chat")
    assert by_span[chats[0].parent_span_id] is plan
    assert "where is order 9?" in chats[0].input_content and chats[0].output_content.startswith("1. look")
    (lookup,) = [e for e in events if e.custom_attributes.get("gen_ai.tool.name") == "lookup_order"]
    assert "'order_id': '9'" in lookup.input_content and lookup.output_content == "order 9: shipped"
    code = next(e for e in events if e.custom_attributes.get("gen_ai.tool.name") == "python_interpreter")
    assert "final_answer(lookup_order(order_id='9'))" in code.input_content


def test_a_custom_model_class_is_recorded_and_restored(memory_monitoring: Any) -> None:
    from llamonitor_smolagents import uninstrument_smolagents
    from smolagents import CodeAgent
    from smolagents.models import ChatMessage, Model
    from smolagents.monitoring import TokenUsage

    class EchoModel(Model):
        def generate(self, messages: Any, stop_sequences: Any = None, response_format: Any = None,
                     tools_to_call_from: Any = None, **kwargs: Any) -> Any:
            return ChatMessage(role="assistant", content=_code("final_answer('echo')"),
                               token_usage=TokenUsage(input_tokens=3, output_tokens=4))

    original = EchoModel.__dict__["generate"]
    agent = CodeAgent(tools=[], model=EchoModel(model_id="echo-1"), name="echoer", verbosity_level=QUIET)
    assert agent.run("echo") == "echo"
    events = memory_monitoring.flush()
    (chat,) = _by_time(events, "chat")
    assert (chat.model, chat.agent.agent_name, chat.usage.input_tokens, chat.usage.output_tokens) == (
        "echo-1", "echoer", 3, 4)
    assert chat.custom_attributes["smolagents.model_class"] == "EchoModel"
    uninstrument_smolagents()
    assert EchoModel.__dict__["generate"] is original


def test_uninstrument_restores_every_method_exactly(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from llamonitor_smolagents import instrument_smolagents, is_instrumented, uninstrument_smolagents
    from smolagents.agents import MultiStepAgent
    from smolagents.local_python_executor import LocalPythonExecutor
    from smolagents.memory import CallbackRegistry
    from smolagents.models import OpenAIServerModel
    from smolagents.tools import Tool

    methods = [(MultiStepAgent, "run"), (MultiStepAgent, "__call__"), (CallbackRegistry, "callback"),
               (Tool, "__call__"), (LocalPythonExecutor, "__call__"), (OpenAIServerModel, "generate"),
               (OpenAIServerModel, "generate_stream")]
    assert is_instrumented()
    assert instrument_smolagents() is False  # already installed: options updated only
    wrapped = [cls.__dict__[m] for cls, m in methods]
    uninstrument_smolagents()
    originals = [cls.__dict__[m] for cls, m in methods]
    assert not is_instrumented()
    assert all(type(o).__name__ == "function" for o in originals)
    assert all(w.__wrapped__ is o for w, o in zip(wrapped, originals, strict=True))
    uninstrument_smolagents()  # twice: a no-op
    from smolagents import CodeAgent

    fake_provider.reply(text=_code("final_answer('x')"))
    assert CodeAgent(tools=[], model=_model(fake_provider), verbosity_level=QUIET).run("x") == "x"
    assert memory_monitoring.flush() == []
    assert instrument_smolagents() is True  # the fixture uninstruments again


def test_version_outside_the_tested_range_fails_clearly() -> None:
    from importlib.metadata import version

    from llamonitor_smolagents import SUPPORTED, SmolagentsAdapter, UnsupportedVersion

    assert SUPPORTED == ((1, 20), (1, 27))
    adapter = SmolagentsAdapter()
    adapter.supported = ((9, 0), (10, 0))
    with pytest.raises(UnsupportedVersion, match=r"smolagents") as info:
        adapter.instrument()
    assert isinstance(info.value, RuntimeError)
    assert "9" in str(info.value) and "10" in str(info.value) and version("smolagents") in str(info.value)
    assert not adapter.is_instrumented()


def test_monitoring_off_and_calls_outside_runs(fake_provider: FakeProvider) -> None:
    """Without an active writer every wrapper lets the call through."""
    from smolagents import CodeAgent

    fake_provider.reply(text=_code("final_answer(6 * 7)"))
    assert CodeAgent(tools=[], model=_model(fake_provider), verbosity_level=QUIET).run("6*7?") == 42
    assert _lookup_tool()(order_id="5") == "order 5: shipped"


def test_model_and_tool_used_outside_an_agent(fake_provider: FakeProvider, memory_monitoring: Any) -> None:
    from smolagents.models import ChatMessage

    model = _model(fake_provider)
    fake_provider.reply(text="plain answer", input_tokens=21, output_tokens=2)
    reply = model.generate([ChatMessage(role="user", content=[{"type": "text", "text": "hello"}])])
    assert reply.content == "plain answer"
    assert _lookup_tool()(order_id="5") == "order 5: shipped"
    events = memory_monitoring.flush()
    (chat,) = events  # the tool called outside any run is not agent work: not recorded
    assert chat.operation_type == "chat" and chat.agent is None and chat.usage.input_tokens == 21


def test_a_recording_failure_never_breaks_the_run(fake_provider: FakeProvider, memory_monitoring: Any,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    import llamonitor_smolagents
    from smolagents import CodeAgent

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(llamonitor_smolagents._adapter.recorder, "_begin_run", broken)
    monkeypatch.setattr(llamonitor_smolagents._adapter.recorder, "_end_model", broken)
    caplog.set_level(logging.WARNING, logger="llamonitor.smolagents")
    for _ in range(2):
        fake_provider.reply(text=_code("final_answer('still fine')"))
        agent = CodeAgent(tools=[], model=_model(fake_provider), name="robust", verbosity_level=QUIET)
        assert agent.run("go") == "still fine"
    warnings = [r for r in caplog.records if r.name == "llamonitor.smolagents"]
    assert len(warnings) == 1 and "instrumentation bug" in warnings[0].getMessage()
    assert memory_monitoring.flush() == []  # the failing parts record nothing; the rest find no run


def test_a_wall_clock_step_mid_run_keeps_every_event_inside_its_run(fake_provider: FakeProvider,
                                                                     memory_monitoring: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """NTP or a hypervisor may step the wall clock while a run is going; smolagents stamps its steps with
    ``time.time()`` and llamonitor measures durations on the monotonic clock, so the two must not be mixed."""
    from smolagents import CodeAgent, tool
    from testkits.clock import stepped_wall_clock

    step_ns = stepped_wall_clock(monkeypatch)  # the 5 ms step below stays under the writer's resync threshold

    @tool
    def lookup_order(order_id: str) -> str:
        """Look an order up.

        Args:
            order_id: the order's id
        """
        step_ns[0] += 5_000_000  # the wall clock jumps 5 ms ahead while the tool runs
        return f"order {order_id}: shipped"

    agent = CodeAgent(tools=[lookup_order], model=_model(fake_provider), name="stepped", stream_outputs=True,
                      verbosity_level=QUIET)
    fake_provider.reply(text=_code("print(lookup_order(order_id='1'))"), input_tokens=11, output_tokens=3)
    fake_provider.reply(text=_code("final_answer('done')"), input_tokens=13, output_tokens=4)
    assert list(agent.run("go", stream=True))[-1].output == "done"
    events = memory_monitoring.flush()
    (run,) = _by_time(events, "agent")
    by_span = {e.span_id: e for e in events}
    for e in events:
        parent = by_span.get(e.parent_span_id) if e.parent_span_id else None
        if parent is not None:
            assert parent.start_time_ns <= e.start_time_ns, (parent.operation_name, e.operation_name)
            assert parent.end_time_ns >= e.end_time_ns, (parent.operation_name, e.operation_name)
    assert run.end_time_ns >= max(e.end_time_ns for e in events if e is not run)
