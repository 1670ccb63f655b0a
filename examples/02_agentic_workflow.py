"""Agentic workflow: sessions, traces, agents and nested spans.

Shows: ``monitoring_session`` / ``monitoring_trace`` / ``monitoring_agent`` and how child spans
under ``asyncio.gather`` keep the right parent, then prints the span tree read from Parquet.

Run: ``uv run python examples/02_agentic_workflow.py``
"""

import asyncio
import tempfile

import pyarrow.parquet as pq
from llamonitor import (
    MonitorConfig,
    StorageConfig,
    initialize_monitoring,
    monitor_llm,
    monitoring_agent,
    monitoring_session,
    monitoring_trace,
    shutdown_monitoring,
)


@monitor_llm("classify_intent", operation_type="llm_call")
async def classify_intent(query: str) -> str:
    await asyncio.sleep(0.005)
    return "weather"


@monitor_llm("search_kb", operation_type="retrieval")
async def search_kb(source: str) -> str:
    await asyncio.sleep(0.005)
    return f"facts from {source}"


@monitor_llm("generate_response", operation_type="llm_call")
async def generate_response(facts: list[str]) -> str:
    await asyncio.sleep(0.005)
    return "It is sunny. " + "; ".join(facts)


@monitor_llm("orchestrator", operation_type="agent_workflow")
async def run_workflow(query: str) -> str:
    with monitoring_agent("router", role="routing"):
        intent = await classify_intent(query)
    with monitoring_agent("researcher", role="retrieval"):
        facts = await asyncio.gather(search_kb(f"{intent}-api"), search_kb("wiki"))  # parallel children
    with monitoring_agent("writer", role="generation"):
        return await generate_response(list(facts))


async def main(data_dir: str) -> None:
    await initialize_monitoring(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    with monitoring_session("user-123"), monitoring_trace("conversation-1"):
        await run_workflow("What is the weather?")
    await shutdown_monitoring()

    rows = pq.ParquetDataset(data_dir).read().to_pylist()
    print(f"recorded {len(rows)} events in session {rows[0]['session_id']}")
    children: dict = {}
    for r in sorted(rows, key=lambda r: r["start_time"]):
        children.setdefault(r["parent_span_id"], []).append(r)

    def show(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            agent = (r["agent"] or {}).get("agent_name") or "-"
            print(f"  {'  ' * depth}{r['operation_name']} (agent={agent}, {r['duration_ms']:.1f} ms)")
            show(r["span_id"], depth + 1)

    show(None, 0)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
