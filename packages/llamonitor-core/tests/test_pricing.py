"""Pricing table, matching rules, cost computation and the ``cost`` collector."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from llamonitor.instrumentation.collectors.cost import CostCollector
from llamonitor.pricing import (
    PRICES_FILE_ENV,
    ModelPrice,
    PriceTable,
    calculate_cost,
    get_price_table,
    reset_price_table,
)
from llamonitor.schema.events import CostInfo, MetricEvent, TextMetrics, TokenUsage

PRICES_JSON = (Path(__file__).resolve().parents[1] / "src" / "llamonitor" / "pricing"
               / "prices.json")

SEED_MODELS = [
    "gpt-4", "gpt-4-turbo", "gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo",
    "claude-3-opus", "claude-3-sonnet", "claude-3-5-sonnet", "claude-3-haiku",
    "gemini-1.5-pro", "gemini-1.5-flash", "gemini-1.0-pro",
    "llama-3-8b", "llama-3-70b",
    "mixtral-8x7b", "mistral-small", "mistral-medium", "mistral-large",
]

M = 1_000_000


@pytest.fixture
def table() -> PriceTable:
    return PriceTable.default()


@pytest.fixture(autouse=True)
def _fresh_global_table(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv(PRICES_FILE_ENV, raising=False)
    reset_price_table()
    yield
    reset_price_table()


def usage(**kw: Any) -> TokenUsage:
    return TokenUsage(**kw)


# --- the data file -----------------------------------------------------------------------------

def test_every_entry_has_source_as_of_and_sane_prices() -> None:
    doc = json.loads(PRICES_JSON.read_text(encoding="utf-8"))
    assert doc["models"], "no entries"
    seen: set[str] = set()
    for entry in doc["models"]:
        name = entry["model"]
        assert name == name.lower() and name not in seen, name
        seen.add(name)
        assert entry["source"].startswith("https://"), name
        date.fromisoformat(entry["as_of"])
        assert entry["verification"] in {"provider-page", "archived", "corroborated", "secondary"}, name
        for key, value in entry.items():
            if key.endswith("_per_mtok") and value is not None:
                assert isinstance(value, (int, float)) and value >= 0, (name, key)
        assert entry["input_per_mtok"] is not None and entry["output_per_mtok"] is not None
        if entry["long_context_threshold"] is not None:
            assert entry["long_context_input_per_mtok"] >= entry["input_per_mtok"], name
        # entries parse into the dataclass
        ModelPrice.from_dict(entry)


def test_aliases_are_unique_and_do_not_shadow_entries() -> None:
    doc = json.loads(PRICES_JSON.read_text(encoding="utf-8"))
    ids = {e["model"] for e in doc["models"]}
    aliases: list[str] = [a.lower() for e in doc["models"] for a in e["aliases"]]
    assert len(aliases) == len(set(aliases))
    assert not ids & set(aliases)
    assert not set(doc["not_aliases"]) & (ids | set(aliases))


@pytest.mark.parametrize("model", SEED_MODELS)
def test_all_seed_models_resolve(table: PriceTable, model: str) -> None:
    price = table.lookup(model)
    assert price is not None and price.model == model


@pytest.mark.parametrize("model", [
    "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini", "gpt-5-nano", "o1", "o3",
    "o3-mini", "o4-mini", "claude-sonnet-4", "claude-sonnet-4-5", "claude-opus-4", "claude-opus-4-1",
    "claude-opus-4-5", "claude-haiku-4-5", "claude-3-5-haiku", "claude-3-7-sonnet", "gemini-2.0-flash",
    "gemini-2.0-flash-lite", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
    "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.3-70b",
])
def test_current_models_resolve(table: PriceTable, model: str) -> None:
    assert table.lookup(model) is not None


# --- matching rules ----------------------------------------------------------------------------

@pytest.mark.parametrize(("alias", "expected"), [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-11-20", "gpt-4o"),
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
    ("gpt-4.1-2025-04-14", "gpt-4.1"),
    ("gpt-5-2025-08-07", "gpt-5"),
    ("o3-2025-04-16", "o3"),
    ("gpt-4-0613", "gpt-4"),
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-opus-4-1-20250805", "claude-opus-4-1"),
    ("claude-3-haiku-20240307", "claude-3-haiku"),
    ("gemini-1.5-pro-002", "gemini-1.5-pro"),
    ("gemini-1.5-flash-001", "gemini-1.5-flash"),
    ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("open-mixtral-8x7b", "mixtral-8x7b"),
    ("mistral-large-2411", "mistral-large"),
])
def test_dated_and_listed_aliases(table: PriceTable, alias: str, expected: str) -> None:
    price = table.lookup(alias)
    assert price is not None and price.model == expected


@pytest.mark.parametrize(("spelling", "expected"), [
    ("openai/gpt-4o-mini", "gpt-4o-mini"),
    ("models/gemini-1.5-pro-002", "gemini-1.5-pro"),
    ("anthropic/claude-3-opus-20240229", "claude-3-opus"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
    ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
    ("claude-sonnet-4@20250514", "claude-sonnet-4"),
    ("GPT-4O-MINI", "gpt-4o-mini"),
    ("  Claude-3-Haiku-20240307 ", "claude-3-haiku"),
    ("meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo", "llama-3.1-405b"),
])
def test_provider_prefixes_and_case(table: PriceTable, spelling: str, expected: str) -> None:
    price = table.lookup(spelling)
    assert price is not None and price.model == expected


def test_no_loose_prefix_matching(table: PriceTable) -> None:
    mini = table.lookup("gpt-4o-mini-2024-07-18")
    assert mini is not None and mini.model == "gpt-4o-mini"
    assert mini.model not in ("gpt-4o", "gpt-4")
    assert table.lookup("gpt-4.1-mini").model == "gpt-4.1-mini"  # type: ignore[union-attr]
    assert table.lookup("gpt-4.1-mini").input_per_mtok != table.lookup("gpt-4.1").input_per_mtok  # type: ignore[union-attr]
    for unknown in ("gpt-4o-mini-extra", "gpt-4o-audio-preview", "gpt-4-32k", "gemini-1.5-flash-8b",
                    "claude-3", "gpt", "gpt-4o-mini-2024-07-18-foo", "llama-3-8b-chat", "o3-pro"):
        assert table.lookup(unknown) is None, unknown


def test_suffix_is_stripped_only_onto_an_entry(table: PriceTable) -> None:
    # "-2024-07-18" stripped leaves "gpt-4x" -- not an entry, so no match
    assert table.lookup("gpt-4x-2024-07-18") is None
    # snapshot with a different historical price is listed in not_aliases
    assert table.lookup("gpt-4o-2024-05-13") is None
    assert table.lookup("gpt-3.5-turbo-1106") is None
    assert table.lookup("mistral-large-latest") is None


@pytest.mark.parametrize("bad", [None, "", "   ", 42, object(), ["gpt-4o"]])
def test_unknown_or_odd_ids_return_none(table: PriceTable, bad: Any) -> None:
    assert table.lookup(bad) is None
    assert table.compute(bad, usage(input_tokens=10, output_tokens=10)) is None


def test_unknown_model_returns_none(table: PriceTable) -> None:
    assert table.lookup("totally-made-up-model") is None
    assert calculate_cost("totally-made-up-model", 100, 100) is None


# --- cost computation --------------------------------------------------------------------------

def test_gpt_4o_mini_published_sum() -> None:
    cost = calculate_cost("gpt-4o-mini", M, M)
    assert cost is not None
    assert cost.input_cost_usd == pytest.approx(0.15)
    assert cost.output_cost_usd == pytest.approx(0.60)
    assert cost.total_cost_usd == pytest.approx(0.75)
    assert cost.currency == "USD"
    price = get_price_table().lookup("gpt-4o-mini")
    assert price is not None
    assert cost.price_source == f"gpt-4o-mini@{price.as_of}"


@pytest.mark.parametrize(("model", "total"), [
    ("gpt-4", 90.0), ("gpt-4-turbo", 40.0), ("gpt-4o", 12.5), ("gpt-3.5-turbo", 2.0),
    ("gpt-4.1", 10.0), ("gpt-4.1-mini", 2.0), ("gpt-4.1-nano", 0.5), ("gpt-5", 11.25),
    ("gpt-5-mini", 2.25), ("gpt-5-nano", 0.45), ("o1", 75.0), ("o3", 10.0), ("o4-mini", 5.5),
    ("claude-3-opus", 90.0), ("claude-3-5-sonnet", 18.0), ("claude-3-haiku", 1.5),
    ("claude-sonnet-4-5", 18.0), ("claude-opus-4-5", 30.0), ("claude-haiku-4-5", 6.0),
    ("gemini-1.5-pro", 6.25), ("gemini-2.5-pro", 11.25), ("gemini-2.5-flash", 2.8),
    ("llama-3.1-405b", 7.0), ("mixtral-8x7b", 1.4),
])
def test_published_prices_one_million_each(model: str, total: float) -> None:
    # ``total`` is the published price of 1M input + 1M output; 100k + 100k keeps every request
    # below the long-context thresholds (128k / 200k / 272k), so it costs a tenth of that.
    cost = calculate_cost(model, 100_000, 100_000)
    assert cost is not None
    assert cost.total_cost_usd == pytest.approx(total / 10)


def test_cached_tokens_priced_at_cached_rate() -> None:
    # gpt-4o: $2.50 input, $1.25 cached, $10 output; 1M prompt of which 400k cached
    cost = calculate_cost("gpt-4o", M, 0, cached_input_tokens=400_000)
    assert cost is not None
    assert cost.input_cost_usd == pytest.approx(0.6 * 2.5 + 0.4 * 1.25)
    assert cost.output_cost_usd == 0.0
    # gpt-4.1-mini cached at a quarter of input
    cost = calculate_cost("gpt-4.1-mini", M, 0, cached_input_tokens=M)
    assert cost is not None and cost.input_cost_usd == pytest.approx(0.10)


def test_anthropic_cache_write_and_read() -> None:
    # claude-sonnet-4-5: $3 input, $3.75 5m cache write, $0.30 cache read, $15 output.
    # OpenAI-style counts: input_tokens includes cache reads and cache writes.
    cost = calculate_cost("claude-sonnet-4-5-20250929", 100_000, 10_000,
                          cached_input_tokens=50_000, cache_creation_input_tokens=20_000)
    assert cost is not None
    expected_in = (30_000 * 3.0 + 50_000 * 0.30 + 20_000 * 3.75) / M
    assert cost.input_cost_usd == pytest.approx(expected_in)
    assert cost.output_cost_usd == pytest.approx(10_000 * 15 / M)
    assert cost.total_cost_usd == pytest.approx(expected_in + 0.15)


def test_cache_counts_larger_than_input_are_clamped() -> None:
    cost = calculate_cost("claude-3-haiku", 10, 0, cached_input_tokens=100, cache_creation_input_tokens=100)
    assert cost is not None
    assert cost.input_cost_usd == pytest.approx(10 * 0.03 / M)
    assert cost.total_cost_usd is not None and cost.total_cost_usd >= 0


def test_reasoning_tokens_billed_as_output_unless_rate_set(table: PriceTable) -> None:
    base = table.compute("o3", usage(input_tokens=0, output_tokens=1000, reasoning_tokens=800))
    assert base is not None and base.output_cost_usd == pytest.approx(1000 * 8 / M)
    table.register(ModelPrice.create("thinker", "test", 1.0, 2.0, reasoning_per_mtok=10.0,
                                     source="https://example.invalid/p", as_of="2026-01-01"))
    cost = table.compute("thinker", usage(input_tokens=0, output_tokens=1000, reasoning_tokens=800))
    assert cost is not None
    assert cost.output_cost_usd == pytest.approx((200 * 2.0 + 800 * 10.0) / M)
    # reasoning larger than output is clamped to output
    cost = table.compute("thinker", usage(input_tokens=0, output_tokens=100, reasoning_tokens=800))
    assert cost is not None and cost.output_cost_usd == pytest.approx(100 * 10.0 / M)


def test_gemini_25_pro_long_context_tier() -> None:
    short = calculate_cost("gemini-2.5-pro", 200_000, 1000)
    assert short is not None
    assert short.input_cost_usd == pytest.approx(200_000 * 1.25 / M)
    assert short.output_cost_usd == pytest.approx(1000 * 10 / M)
    long = calculate_cost("gemini-2.5-pro", 200_001, 1000, cached_input_tokens=100_000)
    assert long is not None
    assert long.input_cost_usd == pytest.approx((100_001 * 2.5 + 100_000 * 0.25) / M)
    assert long.output_cost_usd == pytest.approx(1000 * 15 / M)


def test_claude_sonnet_long_context_tier() -> None:
    cost = calculate_cost("claude-sonnet-4", 300_000, 10_000, cached_input_tokens=100_000,
                          cache_creation_input_tokens=50_000)
    assert cost is not None
    assert cost.input_cost_usd == pytest.approx((150_000 * 6.0 + 100_000 * 0.6 + 50_000 * 7.5) / M)
    assert cost.output_cost_usd == pytest.approx(10_000 * 22.5 / M)
    # Sonnet 4.5 too
    c45 = calculate_cost("claude-sonnet-4-5", 250_000, 0)
    assert c45 is not None and c45.input_cost_usd == pytest.approx(250_000 * 6.0 / M)


def test_gemini_15_128k_tier() -> None:
    cost = calculate_cost("gemini-1.5-flash-002", 128_001, 1000)
    assert cost is not None
    assert cost.input_cost_usd == pytest.approx(128_001 * 0.15 / M)
    assert cost.output_cost_usd == pytest.approx(1000 * 0.6 / M)


def test_none_and_odd_usage_fields(table: PriceTable) -> None:
    assert table.compute("gpt-4o", usage()) is None
    assert table.compute("gpt-4o", None) is None
    only_out = table.compute("gpt-4o", usage(output_tokens=1000))
    assert only_out is not None
    assert only_out.input_cost_usd == 0.0 and only_out.output_cost_usd == pytest.approx(0.01)
    weird = table.compute("gpt-4o", usage(input_tokens=-5, output_tokens="x"))
    assert weird is not None and weird.total_cost_usd == 0.0
    est = table.compute("gpt-4o", usage(input_tokens=10, output_tokens=10, source="estimate"))
    assert est is not None and est.estimated is True


def test_rounding_is_at_most_ten_digits() -> None:
    cost = calculate_cost("gpt-5-nano", 1, 1)
    assert cost is not None
    assert cost.total_cost_usd == pytest.approx((0.05 + 0.4) / M)
    assert cost.total_cost_usd is not None
    assert cost.total_cost_usd == round(cost.total_cost_usd, 10)


# --- overrides ---------------------------------------------------------------------------------

def test_user_register_overrides_and_extends(table: PriceTable) -> None:
    table.register(ModelPrice.create("gpt-4o", "openai", 1.0, 2.0, source="https://example.invalid/neg",
                                     as_of="2026-06-01", aliases=["my-4o"]))
    price = table.lookup("gpt-4o-2024-08-06")
    assert price is not None and price.input_per_mtok == 1.0
    assert table.lookup("my-4o") is price
    cost = table.compute("gpt-4o", usage(input_tokens=M, output_tokens=M))
    assert cost is not None and cost.total_cost_usd == pytest.approx(3.0)
    assert cost.price_source == "gpt-4o@2026-06-01"
    table.register(ModelPrice.create("my-finetune", "openai", 0.3, 1.2, source="https://example.invalid"))
    assert "my-finetune" in table.models()
    # defaults are untouched
    default_4o = PriceTable.default().lookup("gpt-4o")
    assert default_4o is not None and default_4o.input_per_mtok == 2.5


def test_register_validates() -> None:
    with pytest.raises(ValueError):
        ModelPrice.create("x", "p", -1.0, 1.0)
    with pytest.raises(ValueError):
        ModelPrice.create("x", "p", 1.0, 1.0, as_of="yesterday")
    with pytest.raises(ValueError):
        ModelPrice.create("x", "p", 1.0, 1.0, long_context_threshold=100)
    with pytest.raises(TypeError):
        PriceTable().register({"model": "x"})  # type: ignore[arg-type]


def test_load_file_overrides_by_id(tmp_path: Path, table: PriceTable) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": [
        {"model": "gpt-4o-mini", "provider": "azure", "input_per_mtok": 0.165, "output_per_mtok": 0.66,
         "source": "https://example.invalid/azure", "as_of": "2026-05-01"},
        {"model": "house-model", "provider": "self", "input_per_mtok": 0.0, "output_per_mtok": 0.0,
         "aliases": ["house-model-v1"], "source": "https://example.invalid", "as_of": "2026-05-01"},
    ]}), encoding="utf-8")
    table.load_file(path)
    mini = table.lookup("gpt-4o-mini-2024-07-18")
    assert mini is not None and mini.provider == "azure" and mini.cached_input_per_mtok is None
    assert table.lookup("HOUSE-MODEL-V1") is not None
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": [{"model": "x"}]}', encoding="utf-8")
    with pytest.raises(ValueError, match="missing"):
        table.load_file(bad)


def test_env_file_merged_at_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "extra.json"
    path.write_text(json.dumps([
        {"model": "claude-3-haiku", "provider": "anthropic", "input_per_mtok": 0.2,
         "output_per_mtok": 1.0, "source": "https://example.invalid", "as_of": "2026-02-02"},
    ]), encoding="utf-8")
    monkeypatch.setenv(PRICES_FILE_ENV, str(path))
    reset_price_table()
    cost = calculate_cost("claude-3-haiku-20240307", M, 0)
    assert cost is not None and cost.input_cost_usd == pytest.approx(0.2)
    # a broken env file is ignored (logged), never raised from the worker path
    monkeypatch.setenv(PRICES_FILE_ENV, str(tmp_path / "missing.json"))
    reset_price_table()
    cost = calculate_cost("claude-3-haiku", M, 0)
    assert cost is not None and cost.input_cost_usd == pytest.approx(0.25)


def test_lookup_is_thread_safe(table: PriceTable) -> None:
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(2000):
                assert table.lookup("gpt-4o-mini-2024-07-18") is not None
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(50):
        table.register(ModelPrice.create(f"m{i}", "p", 1.0, 1.0, source="https://example.invalid"))
    for t in threads:
        t.join()
    assert not errors


# --- the cost collector ------------------------------------------------------------------------

def make_event(**kw: Any) -> MetricEvent:
    now = datetime.now(timezone.utc)
    return MetricEvent.at(event_id="e", session_id="s", trace_id="t", span_id="sp", operation_name="op",
                       start_time=now, end_time=now, duration_ms=1.0, **kw)


def collect(context: dict[str, Any]) -> dict[str, Any]:
    return CostCollector().collect(None, (), {}, context)


def test_collector_uses_provider_usage() -> None:
    out = collect({"model": "gpt-4o-mini", "event": make_event(),
                   "usage": TokenUsage(input_tokens=M, output_tokens=M, source="provider")})
    cost = out["cost"]
    assert isinstance(cost, CostInfo)
    assert cost.total_cost_usd == pytest.approx(0.75) and cost.estimated is False
    assert out["custom_attributes"] == {"estimated_cost_usd": pytest.approx(0.75),
                                        "cost_model": "gpt-4o-mini"}


def test_collector_accepts_usage_dict_and_dated_model() -> None:
    out = collect({"model": "gpt-4o-mini-2024-07-18",
                   "usage": {"input_tokens": 1000, "output_tokens": 500, "cached_input_tokens": 200}})
    assert out["custom_attributes"]["cost_model"] == "gpt-4o-mini"
    assert out["cost"].input_cost_usd == pytest.approx((800 * 0.15 + 200 * 0.075) / M)


def test_collector_prices_the_response_model_when_the_table_knows_it() -> None:
    usage = TokenUsage(input_tokens=M, output_tokens=M, source="provider")
    # asked for an alias, answered by a model the table prices differently: the answer is billed
    out = collect({"model": "gpt-4o", "response_model": "gpt-4o-mini-2024-07-18", "usage": usage})
    assert out["custom_attributes"]["cost_model"] == "gpt-4o-mini"
    assert out["cost"].total_cost_usd == pytest.approx(0.75)
    # an answering model the table does not know: priced by the request model
    out = collect({"model": "gpt-4o-mini", "response_model": "my-finetune-v7", "usage": usage})
    assert out["custom_attributes"]["cost_model"] == "gpt-4o-mini"
    # only the response model known (no request model recorded)
    out = collect({"model": None, "response_model": "gpt-4o-mini", "usage": usage})
    assert out["custom_attributes"]["cost_model"] == "gpt-4o-mini"


def test_collector_falls_back_to_counted_tokens() -> None:
    event = make_event(text_metrics=TextMetrics(input_tokens=1000, output_tokens=2000,
                                                token_reliability="exact"))
    out = collect({"model": "gpt-4o", "event": event, "usage": None})
    assert out["cost"].total_cost_usd == pytest.approx((1000 * 2.5 + 2000 * 10) / M)
    assert out["cost"].estimated is False


def test_collector_estimates_from_characters() -> None:
    event = make_event(text_metrics=TextMetrics(input_char_count=401, output_char_count=800))
    out = collect({"model": "claude-3-haiku", "event": event})
    cost = out["cost"]
    assert cost.estimated is True
    # ceil(401 / 4) = 101 input tokens, 200 output tokens
    assert cost.input_cost_usd == pytest.approx(101 * 0.25 / M)
    assert cost.output_cost_usd == pytest.approx(200 * 1.25 / M)
    assert out["custom_attributes"]["estimated_cost_usd"] == cost.total_cost_usd


def test_collector_unknown_model() -> None:
    out = collect({"model": "my-secret-model", "usage": TokenUsage(input_tokens=1, output_tokens=1)})
    assert out == {"custom_attributes": {"cost_unknown_model": "my-secret-model"}}


@pytest.mark.parametrize("context", [
    {}, {"model": None}, {"model": 12}, {"model": "gpt-4o"}, {"model": "gpt-4o", "usage": "lots"},
    {"model": "gpt-4o", "usage": TokenUsage()}, {"model": "gpt-4o", "event": "not an event"},
    {"model": "gpt-4o", "event": make_event(text_metrics=TextMetrics())},
    {"model": "gpt-4o", "usage": {"input_tokens": "many", "output_tokens": None}},
])
def test_collector_never_raises_on_odd_input(context: dict[str, Any]) -> None:
    out = collect(context)
    assert "cost" not in out


def test_collector_reads_model_from_event_and_custom_attributes() -> None:
    event = make_event(model="o4-mini", usage=TokenUsage(input_tokens=M, output_tokens=0))
    out = collect({"event": event})
    assert out["custom_attributes"]["cost_model"] == "o4-mini"
    out = collect({"custom_attributes": {"model": "gpt-4"},
                   "usage": TokenUsage(input_tokens=M, output_tokens=0)})
    assert out["cost"].total_cost_usd == pytest.approx(30.0)


def test_collector_metric_type_and_custom_table() -> None:
    table = PriceTable([ModelPrice.create("local", "self", 1.0, 1.0, source="https://example.invalid")])
    collector = CostCollector(table=table)
    assert collector.metric_type == "cost"
    out = collector.collect(None, (), {}, {"model": "local",
                                           "usage": TokenUsage(input_tokens=M, output_tokens=M)})
    assert out["cost"].total_cost_usd == pytest.approx(2.0)
    table_only = CostCollector(table=table, fallback=False)
    assert table_only.collect(None, (), {}, {"model": "gpt-4o", "usage": TokenUsage(input_tokens=1)}) == {
        "custom_attributes": {"cost_unknown_model": "gpt-4o"}}
    # with the default fallback, genai-prices prices what the custom table lacks
    out = collector.collect(None, (), {}, {"model": "gpt-4o", "usage": TokenUsage(input_tokens=M)})
    assert out["cost"].price_source == "genai-prices@0.2.3:openai/gpt-4o"


def test_embedding_models_are_priced_on_input_only() -> None:
    from llamonitor.pricing import calculate_cost

    for model, per_mtok in (("text-embedding-3-small", 0.02), ("text-embedding-3-large", 0.13),
                            ("text-embedding-ada-002", 0.10)):
        cost = calculate_cost(model, 1_000_000, 0)
        assert cost is not None and cost.total_cost_usd == per_mtok and cost.output_cost_usd == 0.0


def test_the_quick_cost_of_plain_counts_equals_the_general_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    """cost_for prices plain input / output counts by a short path: same floats, same CostInfo."""
    import itertools

    from llamonitor.pricing import table as table_module

    table = get_price_table()
    counts = [None, 0, 1, -3, 999, 123_456, 250_001, 10**7, True, 3.5]
    usages = [TokenUsage(input_tokens=i, output_tokens=o, source=s)
              for i, o in itertools.product(counts, counts) for s in (None, "estimate", "provider")]
    prices = [table.lookup(m) for m in table.models()]
    quick = [[table_module.cost_for(p, u) for u in usages] for p in prices if p is not None]
    monkeypatch.setattr(table_module, "_quick_cost", lambda *args: None)
    general = [[table_module.cost_for(p, u) for u in usages] for p in prices if p is not None]
    assert quick == general
    assert any(c is not None and c.total_cost_usd for row in quick for c in row)
