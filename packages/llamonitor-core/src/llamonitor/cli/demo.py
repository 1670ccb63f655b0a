"""``llamonitor demo``: a simulated multi-agent customer-support workflow, monitored for real.

Nothing is mocked on the monitoring side: decorated coroutines and an async-generator stream run
through the real recorder, worker and Parquet backend. Only the "LLMs" are simulated (a few ms
of ``asyncio.sleep`` and canned text). Per customer session and conversation turn::

    orchestrator ─┬─ classifier agent ──────── classify_intent          (gpt-4o-mini)
                  ├─ knowledge-base agent ─┬── search_knowledge_base    (retrieval)
                  │                        └── summarize_articles       (gpt-4.1-mini)
                  ├─ response-generator ───── generate_response         (claude-sonnet-4-5)
                  │                       or  stream_response           (gpt-4o, streamed)
                  └─ escalation agent ─────── draft_escalation_ticket   (gpt-4.1, sometimes)

A few LLM calls fail on purpose (``RateLimitError`` / ``TimeoutError``, about 4% with the seed);
the orchestrator retries them or falls back, so every turn completes.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from llamonitor import (
    MonitorConfig,
    StorageConfig,
    initialize_monitoring_sync,
    monitor_llm,
    monitoring_agent,
    monitoring_session,
    monitoring_trace,
)
from llamonitor.measurement.config import MeasurementConfig
from llamonitor.runtime import shutdown_sync

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Messages = list[dict[str, str]]


class RateLimitError(Exception):
    """Simulated HTTP 429 from a model provider."""


@dataclass
class DemoOptions:
    """Settings of one demo run."""

    sessions: int = 20
    output_dir: str = "./llamonitor_data"
    measurement: str = "hybrid"
    seed: int = 42
    quiet: bool = False
    #: probability that a simulated LLM call fails
    error_rate: float = 0.04
    #: customer sessions running at the same time
    concurrency: int = 5
    max_turns: int = 3


@dataclass
class DemoResult:
    """Outcome of :func:`run_demo`."""

    sessions: int
    turns: int
    seconds: float
    drained: bool
    health: dict[str, Any] = field(default_factory=dict)


# -- simulated world -----------------------------------------------------------------------------
_CUSTOMERS = [
    ("Maria Garcia", "maria.garcia@example.com"), ("James O'Connor", "j.oconnor@example.net"),
    ("Aisha Khan", "aisha.khan@example.org"), ("Chen Wei", "chen.wei@example.com"),
    ("Lucas Martin", "lucas.martin@example.fr"), ("Priya Patel", "priya.p@example.in"),
    ("Tom Becker", "tom.becker@example.de"), ("Sofia Rossi", "sofia.rossi@example.it"),
]
_PRODUCTS = ["wireless headphones", "smart thermostat", "27-inch 4K monitor", "espresso machine",
             "running shoes", "robot vacuum"]
_OPENERS = {
    "order_status": "Hi, this is {name} ({email}). Where is my order #{order}? The {product} should have "
                    "arrived on Monday and the tracking page hasn't changed for four days.",
    "refund": "Hello, I'd like a refund for order #{order}. The {product} arrived with a cracked case. "
              "Thanks, {first}",
    "technical": "My {product} stopped connecting to Wi-Fi after yesterday's update. I already restarted "
                 "it twice. Order #{order}, account {email}.",
    "billing": "I was charged twice for order #{order} ({product}). Please refund the duplicate charge. "
               "- {name}, {email}",
    "complaint": "This is the third time I'm writing about order #{order}! Nobody answers and the {product} "
                 "is still missing. I want to talk to a manager. {name}",
}
_FOLLOW_UPS = [
    "Thanks. How long until the money is back on my card?",
    "That didn't help, the {product} still shows the same error.",
    "Could you send the tracking link to {email} as well?",
    "Ok, and can I change the delivery address for order #{order}?",
]
_ARTICLES = {
    "order_status": ["Tracking a delayed parcel", "Carrier hand-off times by region"],
    "refund": ["Refunds for items damaged in transit", "Return labels and pick-up"],
    "technical": ["Resetting network settings after a firmware update", "Known Wi-Fi issues (2.4 GHz)"],
    "billing": ["Duplicate card authorisations", "When refunds reach your statement"],
    "complaint": ["Escalation policy", "Goodwill credit guidelines"],
}


@dataclass
class _Ticket:
    """One simulated customer conversation; its RNG makes the session reproducible."""

    rng: random.Random
    error_rate: float
    name: str
    email: str
    order: str
    product: str
    topic: str

    @property
    def first(self) -> str:
        return self.name.split()[0]

    def fmt(self, template: str) -> str:
        return template.format(name=self.name, first=self.first, email=self.email, order=self.order,
                               product=self.product)


_TICKET: contextvars.ContextVar[_Ticket] = contextvars.ContextVar("llamonitor_demo_ticket")


async def _simulate(model: str, low_ms: float, high_ms: float) -> None:
    """Latency, then maybe a provider failure."""
    t = _TICKET.get()
    await asyncio.sleep(t.rng.uniform(low_ms, high_ms) / 1000)
    if t.rng.random() < t.error_rate:
        if t.rng.random() < 0.6:
            raise RateLimitError(f"429 Too Many Requests: rate limit reached for {model} (simulated)")
        raise TimeoutError(f"{model} did not answer within 30s (simulated)")


def _chat(system: str, user: str) -> Messages:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _llm(name: str, model: str, provider: str, mode: str) -> Callable[[F], F]:
    return monitor_llm(name, "llm_call", measure_text=True, measurement=mode, collectors=["cost"],
                       custom_attributes={"model": model, "provider": provider})


class SupportWorkflow:
    """The agents and their decorated LLM calls (built per run: the measurement mode varies)."""

    def __init__(self, measurement: str) -> None:
        m = measurement

        @_llm("classify_intent", "gpt-4o-mini", "openai", m)
        async def classify_intent(messages: Messages) -> str:
            await _simulate("gpt-4o-mini", 3, 10)
            t = _TICKET.get()
            return f'{{"intent": "{t.topic}", "confidence": {t.rng.uniform(0.71, 0.99):.2f}}}'

        @monitor_llm("search_knowledge_base", "retrieval", measure_text=True, measurement="capacity")
        async def search_knowledge_base(query: str) -> list[str]:
            t = _TICKET.get()
            await asyncio.sleep(t.rng.uniform(4, 14) / 1000)
            return [f"[{title}] ... {t.product} ..." for title in _ARTICLES[t.topic]]

        @_llm("summarize_articles", "gpt-4.1-mini", "openai", m)
        async def summarize_articles(messages: Messages) -> str:
            await _simulate("gpt-4.1-mini", 4, 12)
            t = _TICKET.get()
            return (f"Relevant policy for {t.topic.replace('_', ' ')}: {_ARTICLES[t.topic][0]}. "
                    f"Applies to order #{t.order} ({t.product}).")

        @_llm("generate_response", "claude-sonnet-4-5", "anthropic", m)
        async def generate_response(messages: Messages) -> str:
            await _simulate("claude-sonnet-4-5", 6, 18)
            return _reply(_TICKET.get())

        @_llm("stream_response", "gpt-4o", "openai", m)
        async def stream_response(messages: Messages) -> AsyncIterator[str]:
            await _simulate("gpt-4o", 3, 8)  # time to first token (may fail)
            words = _reply(_TICKET.get()).split(" ")
            for i, word in enumerate(words):
                await asyncio.sleep(0.004 if i == len(words) // 2 else 0)
                yield word + " "

        @_llm("generate_response_fallback", "gpt-4o-mini", "openai", m)
        async def generate_response_fallback(messages: Messages) -> str:
            await _simulate("gpt-4o-mini", 2, 6)
            t = _TICKET.get()
            return f"Hi {t.first}, we're looking into order #{t.order} and will email {t.email} shortly."

        @_llm("draft_escalation_ticket", "gpt-4.1", "openai", m)
        async def draft_escalation_ticket(messages: Messages) -> str:
            await _simulate("gpt-4.1", 8, 20)
            t = _TICKET.get()
            return (f"ESCALATION: {t.name} <{t.email}>, order #{t.order}, {t.product}. Customer is upset; "
                    f"priority high. Suggested: call back within 2h, offer goodwill credit.")

        @monitor_llm("classifier_agent", "agent")
        async def classifier_agent(message: str) -> str:
            raw = await classify_intent(_chat("Classify the customer's intent as JSON.", message))
            return raw.split('"')[3]

        @monitor_llm("knowledge_base_agent", "agent")
        async def knowledge_base_agent(message: str, intent: str) -> str:
            docs = await search_knowledge_base(f"{intent}: {message}")
            return await summarize_articles(_chat("Summarise these articles for the agent.", "\n".join(docs)))

        @monitor_llm("response_generator_agent", "agent")
        async def response_generator_agent(message: str, notes: str, stream: bool) -> str:
            prompt = _chat(f"You are a friendly support agent. Notes: {notes}", message)
            if stream:
                return "".join([chunk async for chunk in stream_response(prompt)]).strip()
            return await generate_response(prompt)

        @monitor_llm("escalation_agent", "agent")
        async def escalation_agent(message: str) -> str:
            return await draft_escalation_ticket(_chat("Write a ticket for a human supervisor.", message))

        @monitor_llm("handle_turn", "agent_workflow")
        async def handle_turn(message: str) -> str:
            t = _TICKET.get()
            with monitoring_agent("classifier", role="intent classification"):
                intent = await _retry(lambda: classifier_agent(message), _const("general"))
            if intent == "general":
                intent = t.topic
            with monitoring_agent("knowledge_base", role="retrieval and summarisation"):
                notes = await _retry(lambda: knowledge_base_agent(message, intent), _const(""))
            with monitoring_agent("response_generator", role="customer reply"):
                stream = t.rng.random() < 0.35

                async def fallback() -> str:
                    try:
                        return await generate_response_fallback(_chat("Short holding reply.", message))
                    except (RateLimitError, TimeoutError):
                        return "Sorry, we're experiencing delays. A colleague will follow up by email."

                reply = await _retry(lambda: response_generator_agent(message, notes, stream), fallback)
            if intent == "complaint" or t.rng.random() < 0.08:
                with monitoring_agent("escalation", role="human handoff"):
                    await _retry(lambda: escalation_agent(message), _const(""))
            return reply

        self.handle_turn: Callable[[str], Awaitable[str]] = handle_turn


def _reply(t: _Ticket) -> str:
    return (f"Hi {t.first}, thanks for reaching out about order #{t.order}. I checked your {t.product} "
            f"and {_NEXT_STEP[t.topic]} You'll get a confirmation at {t.email}.")


_NEXT_STEP = {
    "order_status": "the parcel is at the regional hub; delivery is expected within two business days.",
    "refund": "I've started a full refund and emailed a prepaid return label.",
    "technical": "please hold the reset button for ten seconds, then re-pair it in the app.",
    "billing": "the duplicate charge was an authorisation hold and has been released.",
    "complaint": "I'm sorry for the trouble. A supervisor will call you today.",
}


def _const(value: T) -> Callable[[], Awaitable[T]]:
    async def give() -> T:
        return value

    return give


async def _retry(step: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run ``step``; retry rate limits with a short backoff, fall back after a timeout or on give-up."""
    for attempt in range(attempts):
        try:
            return await step()
        except RateLimitError:
            await asyncio.sleep(0.002 * 2 ** attempt)
        except TimeoutError:
            break
    return await fallback()


async def _session(workflow: SupportWorkflow, index: int, options: DemoOptions) -> int:
    rng = random.Random(f"{options.seed}:{index}")
    name, email = rng.choice(_CUSTOMERS)
    ticket = _Ticket(rng=rng, error_rate=options.error_rate, name=name, email=email,
                     order=str(rng.randint(100_000, 999_999)), product=rng.choice(_PRODUCTS),
                     topic=rng.choice(sorted(_OPENERS)))
    _TICKET.set(ticket)
    turns = rng.randint(1, options.max_turns)
    session_id = f"cust-{ticket.first.lower()}-{uuid.uuid4().hex[:8]}"
    with monitoring_session(session_id):
        for turn in range(turns):
            template = _OPENERS[ticket.topic] if turn == 0 else rng.choice(_FOLLOW_UPS)
            with monitoring_trace(), monitoring_agent("orchestrator", role="coordinator"):
                await workflow.handle_turn(ticket.fmt(template))
    return turns


async def _run_sessions(options: DemoOptions, on_done: Callable[[], None]) -> int:
    workflow = SupportWorkflow(options.measurement)
    gate = asyncio.Semaphore(max(1, options.concurrency))

    async def one(i: int) -> int:
        async with gate:
            # Each session runs in its own task, hence its own copy of the context.
            turns = await _session(workflow, i, options)
            on_done()
            return turns

    return sum(await asyncio.gather(*(one(i) for i in range(options.sessions))))


def demo_config(options: DemoOptions) -> MonitorConfig:
    """The monitoring config the demo runs with (Parquet under ``options.output_dir``).

    The spill directory is ``<output_dir>/.spill`` so that spill left in the working directory
    by another application is never replayed into the demo's data (and vice versa). Content
    capture is on (the data is simulated) so that ``llamonitor analyze`` can show context drift.
    """
    out = Path(options.output_dir)
    return MonitorConfig(
        storage=StorageConfig(backend="parquet", output_dir=str(out), batch_size=500,
                              flush_interval_seconds=0.5),
        spill_dir=str(out / ".spill"), measurement=MeasurementConfig.coerce(options.measurement),
        capture_content=True)


def run_demo(options: DemoOptions, console: Console | None = None) -> DemoResult:
    """Run the simulated workflow through the real pipeline, then drain and stop monitoring."""
    if options.sessions < 1:
        raise ValueError("--sessions must be at least 1")
    console = console or Console(stderr=True)
    writer = initialize_monitoring_sync(demo_config(options))
    start = time.perf_counter()
    progress = Progress(SpinnerColumn(), TextColumn("[bold]customer sessions"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                        disable=options.quiet, transient=False)
    try:
        with progress:
            task = progress.add_task("sessions", total=options.sessions)
            turns = asyncio.run(_run_sessions(options, lambda: progress.advance(task)))
    finally:
        drained = shutdown_sync(timeout=60)
    return DemoResult(sessions=options.sessions, turns=turns, seconds=time.perf_counter() - start,
                      drained=drained, health=writer.health())


def cmd_demo(args: Any) -> int:
    """``llamonitor demo``: run the simulation, then print the report of the output folder."""
    from llamonitor.cli.report import print_report, report_console

    options = DemoOptions(sessions=args.sessions, output_dir=args.dir, measurement=args.measurement,
                          seed=args.seed, quiet=args.quiet)
    out = report_console()
    err = Console(stderr=True)
    if not options.quiet:
        err.print(f"Simulating {options.sessions} customer sessions (measurement={options.measurement}, "
                  f"seed={options.seed}) -> {options.output_dir}", highlight=False, soft_wrap=True)
    result = run_demo(options, err)
    sink = result.health.get("sinks", {}).get("parquet", {})
    if not options.quiet:
        err.print(f"{result.turns} conversation turns, {sink.get('written', 0)} events written in "
                  f"{result.seconds:.2f}s", highlight=False, soft_wrap=True)
    if not result.drained or sink.get("spilled_events") or sink.get("lost_events"):
        spill = demo_config(options).spill_dir
        err.print(f"[yellow]warning:[/] not every event reached Parquet ({escape(str(sink))}); send the rest with "
                  f"`llamonitor replay --spill-dir {spill} --backend parquet --dir {options.output_dir}`",
                  highlight=False, soft_wrap=True)
    return print_report(options.output_dir, as_json=False, console=out)
