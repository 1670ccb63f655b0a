"""Prints what an example stored: one line per event, in start order (shared by the agent examples)."""

from __future__ import annotations

import pyarrow.parquet as pq


def print_agent_events(data_dir: str) -> None:
    """Each stored event with its agent, the agent that handed over to it, and its tokens."""
    rows = sorted(pq.ParquetDataset(data_dir).read().to_pylist(), key=lambda r: r["start_time"])
    print(f"recorded {len(rows)} events in {len({r['trace_id'] for r in rows})} trace(s)")
    for r in rows:
        agent = r["agent"] or {}
        usage = r.get("usage") or {}
        tokens = f" tokens={usage['input_tokens']}+{usage['output_tokens']}" if usage.get("input_tokens") else ""
        extra = f" handoff_from={agent['handoff_from']}" if agent.get("handoff_from") else ""
        print(f"  {r['operation_type']:<14} {r['operation_name']:<34} agent={agent.get('agent_name')}{extra}{tokens}")
