"""CrewAI: crews, tasks, agents and LLM calls with their true identities, ``instrument_crewai()``.

Shows: a two-agent sequential crew (researcher, then writer) recorded as one trace: the kickoff,
each task, each agent execution and each LLM call, with the agent's role and the hand-over from
one agent to the next. With ``instrument_openai()`` also active, each LLM call is still recorded
once. It runs offline: CrewAI's LLM points at ``llamonitor.testing.fake_provider`` on loopback,
and CrewAI's own telemetry is switched off.

Install: ``pip install "llamonitor-crewai[crewai]"``.
Run: ``uv run python examples/22_crewai.py``
"""

import atexit
import os
import shutil
import tempfile

for name, value in {"CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_DISABLE_TRACKING": "true",
                    "CREWAI_TRACING_ENABLED": "false", "OTEL_SDK_DISABLED": "true", "OPENAI_API_KEY": "test"}.items():
    os.environ.setdefault(name, value)
os.environ["HOME"] = tempfile.mkdtemp(prefix="crewai-example-home-")  # CrewAI writes its storage under HOME
atexit.register(shutil.rmtree, os.environ["HOME"], True)

import pyarrow.parquet as pq  # noqa: E402
from crewai import LLM, Agent, Crew, Process, Task  # noqa: E402
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring_sync, shutdown_sync  # noqa: E402
from llamonitor.testing.fake_provider import FakeProvider  # noqa: E402
from llamonitor_crewai import instrument_crewai, uninstrument_crewai  # noqa: E402


def main(data_dir: str) -> None:
    initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_crewai()  # before crew.kickoff()

    with FakeProvider() as fake:
        fake.reply(text="Thought: I know this.\nFinal Answer: Llamas live in the Andes.", input_tokens=120,
                   output_tokens=14)
        fake.reply(text="Thought: I can write it.\nFinal Answer: Llamas: Andean, social, calm.", input_tokens=180,
                   output_tokens=16)
        llm = LLM(model="gpt-4o-mini", base_url=fake.openai_base_url, api_key="test", max_retries=0)
        researcher = Agent(role="Researcher", goal="find facts", backstory="careful", llm=llm, allow_delegation=False)
        writer = Agent(role="Writer", goal="write clearly", backstory="concise", llm=llm, allow_delegation=False)
        crew = Crew(agents=[researcher, writer], process=Process.sequential, tasks=[
            Task(name="research", description="Research llamas", expected_output="facts", agent=researcher),
            Task(name="write", description="Write one line about llamas", expected_output="a line", agent=writer),
        ])
        print("crew result:", crew.kickoff())

    uninstrument_crewai()
    shutdown_sync()

    rows = sorted(pq.ParquetDataset(data_dir).read().to_pylist(), key=lambda r: r["start_time"])
    print(f"recorded {len(rows)} events in {len({r['trace_id'] for r in rows})} trace(s)")
    for r in rows:
        agent = r["agent"] or {}
        extra = f" handoff_from={agent['handoff_from']}" if agent.get("handoff_from") else ""
        print(f"  {r['operation_type']:<10} {r['operation_name']:<40} role={agent.get('agent_role')}{extra}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
