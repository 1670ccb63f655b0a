"""AG2 0.x (classic ``autogen``): two agents chatting, recorded with ``instrument_autogen()``.

Shows: ``initiate_chat`` between two conversable agents recorded as the chat, every chat
completion (source agent, tokens, AG2's own cost) and every message between the agents as a
handoff. It runs offline: the agents' ``llm_config`` points at
``llamonitor.testing.fake_provider`` on loopback.

Install: ``pip install "llamonitor-autogen[ag2]"``.
Run: ``uv run python examples/24_ag2.py``
"""

import tempfile

import pyarrow.parquet as pq
from autogen import ConversableAgent
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring_sync, shutdown_sync
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_autogen import instrument_autogen, uninstrument_autogen


def main(data_dir: str) -> None:
    initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_autogen(agentchat=False, ag2=True)

    with FakeProvider() as fake:
        fake.reply(text="Hi! I can help with your refund.", model="gpt-4o-mini", input_tokens=30, output_tokens=9)
        cfg = {"config_list": [{"model": "gpt-4o-mini", "base_url": fake.openai_base_url, "api_key": "test",
                                "max_retries": 0}], "cache_seed": None}
        customer = ConversableAgent("customer", llm_config=cfg, human_input_mode="NEVER")
        support = ConversableAgent("support", llm_config=cfg, human_input_mode="NEVER")
        customer.initiate_chat(support, message="I want a refund.", max_turns=1, silent=True)

    uninstrument_autogen()
    shutdown_sync()

    rows = sorted(pq.ParquetDataset(data_dir).read().to_pylist(), key=lambda r: r["start_time"])
    print(f"recorded {len(rows)} events")
    for r in rows:
        agent, usage = r["agent"] or {}, r["usage"] or {}
        tokens = f" tokens={usage['input_tokens']}+{usage['output_tokens']}" if usage.get("input_tokens") else ""
        handoff = f" handoff_from={agent['handoff_from']}" if agent.get("handoff_from") else ""
        print(f"  {r['operation_type']:<10} {r['operation_name']:<32} agent={agent.get('agent_name')}{handoff}{tokens}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
