"""Ingested spans carry token usage: the writer prices them straight into columns (no event per span),
and what it stores must be exactly what the general path (``EventBuilder.build`` + the cost
collector + ``event_to_row``) gives, for every shape of priced record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llamonitor.ingest import decode_body, map_spans
from llamonitor.instrumentation.base import CollectorRegistry
from llamonitor.instrumentation.collectors.cost import CostCollector
from llamonitor.schema.columns import COLUMN_NAMES, event_to_row
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.schema.events import TokenUsage
from llamonitor.transport.enrich import EventBuilder
from llamonitor.transport.records import OperationSpec
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as g
from testkits.otlp import T0
from testkits.otlp import otlp_json_body as _body

CHAT = {g.GEN_AI_OPERATION_NAME: "chat", g.GEN_AI_PROVIDER_NAME: "openai", g.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        g.GEN_AI_USAGE_INPUT_TOKENS: 1000, g.GEN_AI_USAGE_OUTPUT_TOKENS: 200, "app.user": "u-1"}


def _config(**kw: Any) -> MonitorConfig:
    return MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="unused"), **kw)


def ingested_records() -> list[tuple[Any, ...]]:
    """Chat spans of every priced shape, and spans without usage, in one request."""
    spans = [
        ("00000000000000a1", "chat", CHAT, None),
        ("00000000000000a2", "chat", {**CHAT, g.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18"}, "00000000000000a1"),
        ("00000000000000a3", "chat", {**CHAT, g.GEN_AI_REQUEST_MODEL: "no-such-model-xyz"}, None),  # unknown model
        ("00000000000000a4", "chat", {k: v for k, v in CHAT.items() if k != g.GEN_AI_REQUEST_MODEL}, None),  # none
        ("00000000000000a5", "chat", {**CHAT, g.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 400,
                                      g.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 50, g.GEN_AI_AGENT_NAME: "Bot"}, None),
        ("00000000000000a6", "chat", {g.GEN_AI_OPERATION_NAME: "chat", g.GEN_AI_REQUEST_MODEL: "gpt-4o",
                                      "llm.usage.total_tokens": 77}, None),  # total only: no cost
        ("00000000000000a7", "tool", {g.GEN_AI_OPERATION_NAME: "execute_tool", g.GEN_AI_TOOL_NAME: "search"}, None),
        ("00000000000000a8", "chat", {**CHAT, "app.bad": "nul \x00 and \udc80 surrogate",
                                      g.GEN_AI_PROVIDER_NAME: "open\x00ai"}, None),
        ("00000000000000a9", "chat", {**CHAT, g.GEN_AI_REQUEST_MODEL: "claude-3-5-sonnet-20241022",
                                      g.GEN_AI_PROVIDER_NAME: "anthropic"}, None),
    ]
    result = map_spans(decode_body(_body(*spans), "application/json"))
    assert result.rejected == 0 and len(result.records) == len(spans)
    return result.records


def adapter_records() -> list[tuple[Any, ...]]:
    """Usage an adapter reported on a decorated call (no collectors on its spec)."""
    spec = OperationSpec("adapter_call", custom_attributes={"team": "search"}, model="gpt-4o-mini")
    usage = TokenUsage(input_tokens=10, output_tokens=5, total_tokens=15, source="estimate")
    return [(spec, None, 1, 1 << 20, None, None, T0, 1000, None, None, None, None,
             {"usage": usage, "model": "gpt-4o-mini", "provider": "openai", "attributes": {"k": 1}}),
            (spec, "s", 2, 1 << 21, None, None, T0, 1000, None, None, None, ValueError("boom"), None)]


def test_priced_records_go_straight_to_columns_equal_to_the_general_path() -> None:
    records = ingested_records() + adapter_records()
    builder = EventBuilder(_config())
    batch = builder.build_batch(records)
    assert builder.plain_built == len(records)  # no event built per span
    general = EventBuilder(_config())
    expected = [general.build(r) for r in records]
    assert batch.rows == [event_to_row(e) for e in expected]
    assert builder.sanitized_values == general.sanitized_values > 0  # the NUL in a provider
    assert list(batch) == expected  # events made on demand are the general path's
    columns = dict(zip(COLUMN_NAMES, batch.columns, strict=True))
    assert columns["cost_total_cost_usd"][0] > 0 and columns["cost_total_cost_usd"][6] is None
    assert expected[2].custom_attributes.get("cost_unknown_model") == "no-such-model-xyz"


def test_a_batch_of_one_spec_with_usage_equals_the_general_path() -> None:
    spans = [(f"{i + 1:016x}", "openai.chat", {**CHAT, g.GEN_AI_USAGE_INPUT_TOKENS: 100 + i}, None)
             for i in range(300)]
    records = map_spans(decode_body(_body(*spans), "application/json")).records
    batch = EventBuilder(_config()).build_batch(records)
    general = EventBuilder(_config())
    assert batch.rows == [event_to_row(general.build(r)) for r in records]


class PricierCost(CostCollector):
    """A cost collector of the application's own: its result is not known ahead."""

    def _collect(self, context: dict[str, Any]) -> dict[str, Any]:
        out = super()._collect(context)
        out.setdefault("custom_attributes", {})["pricier"] = True
        return out


@pytest.fixture
def custom_cost() -> Iterator[None]:
    CollectorRegistry.register("cost", PricierCost)
    try:
        yield
    finally:
        CollectorRegistry.register("cost", CostCollector)


def test_a_custom_cost_collector_takes_the_general_path(custom_cost: None) -> None:
    records = ingested_records()
    builder = EventBuilder(_config())
    batch = builder.build_batch(records)
    assert builder.plain_built == 1  # only the tool span, which has no usage
    assert all(e.custom_attributes.get("pricier") for e in batch if e.usage is not None)
