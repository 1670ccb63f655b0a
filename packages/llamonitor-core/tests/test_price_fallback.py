"""The genai-prices fallback: own table first, genai-prices for the rest, price_source says which.

Runs under the session network guard (root ``conftest.py``): a genai-prices call that tried to
download would fail these tests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from llamonitor.instrumentation.collectors.cost import CostCollector
from llamonitor.pricing import calculate_cost, get_price_table
from llamonitor.pricing.fallback import fallback_available, fallback_cost, reset_fallback
from llamonitor.schema.events import TokenUsage

M = 1_000_000


@pytest.fixture
def without_genai_prices(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """genai-prices made unimportable (what a plain ``pip install llamonitor`` has)."""
    monkeypatch.setitem(sys.modules, "genai_prices", None)
    reset_fallback()
    yield
    monkeypatch.undo()
    reset_fallback()


def test_model_unknown_to_own_table_is_priced_by_genai_prices() -> None:
    assert get_price_table().lookup("mistral-large-latest") is None  # the own table does not know it
    cost = calculate_cost("mistral-large-latest", M, M)
    assert cost is not None
    # genai-prices 0.2.3: mistral-large $2 / $6 per million tokens
    assert (cost.input_cost_usd, cost.output_cost_usd, cost.total_cost_usd) == (2.0, 6.0, 8.0)
    assert cost.price_source == "genai-prices@0.2.3:mistral/mistral-large"


def test_fallback_bills_cache_reads_at_the_cached_rate() -> None:
    # gpt-4o through genai-prices directly: $2.50 input, $1.25 cached input, $10 output
    cost = fallback_cost("gpt-4o", TokenUsage(input_tokens=M, output_tokens=M, cached_input_tokens=M // 2))
    assert cost is not None
    assert cost.input_cost_usd == pytest.approx(0.5 * 2.5 + 0.5 * 1.25)
    assert cost.output_cost_usd == pytest.approx(10.0)


def test_provider_prefixed_id_falls_back_to_the_bare_model() -> None:
    cost = calculate_cost("somegateway/mistral-large-latest", M, 0)
    assert cost is not None and cost.total_cost_usd == 2.0


def test_own_table_wins_where_both_know_the_model() -> None:
    # gemini-1.0-pro is the one shared model the sources disagree on (docs/pricing.md)
    own = calculate_cost("gemini-1.0-pro", M, M)
    third = fallback_cost("gemini-1.0-pro", TokenUsage(input_tokens=M, output_tokens=M))
    assert own is not None and third is not None
    assert own.total_cost_usd == 2.0  # $0.50 + $1.50 per million tokens (Gemini API)
    assert own.price_source is not None and own.price_source.startswith("gemini-1.0-pro@")
    assert third.total_cost_usd == 0.5  # genai-prices' $0.125 / $0.375 (Vertex's per-character rates)


def test_collector_records_the_pricing_source() -> None:
    collector = CostCollector()
    usage = TokenUsage(input_tokens=M, output_tokens=0)
    own = collector.collect(None, (), {}, {"model": "gpt-4o-mini", "usage": usage})
    assert own["cost"].price_source == f"gpt-4o-mini@{get_price_table().lookup('gpt-4o-mini').as_of}"
    third = collector.collect(None, (), {}, {"model": "mistral-large-latest", "usage": usage})
    assert third["cost"].price_source == "genai-prices@0.2.3:mistral/mistral-large"
    assert third["custom_attributes"] == {"estimated_cost_usd": 2.0, "cost_model": "mistral-large-latest"}
    unknown = collector.collect(None, (), {}, {"model": "my-secret-model", "usage": usage})
    assert unknown == {"custom_attributes": {"cost_unknown_model": "my-secret-model"}}


def test_collector_without_fallback_uses_the_table_only() -> None:
    collector = CostCollector(fallback=False)
    out = collector.collect(None, (), {}, {"model": "mistral-large-latest",
                                           "usage": TokenUsage(input_tokens=1, output_tokens=1)})
    assert out == {"custom_attributes": {"cost_unknown_model": "mistral-large-latest"}}
    assert calculate_cost("mistral-large-latest", 1, 1, fallback=False) is None


def test_without_genai_prices_unknown_models_stay_unknown(without_genai_prices: None) -> None:
    assert fallback_available() is False
    assert calculate_cost("mistral-large-latest", M, M) is None
    out = CostCollector().collect(None, (), {}, {"model": "mistral-large-latest",
                                                 "usage": TokenUsage(input_tokens=M, output_tokens=M)})
    assert out == {"custom_attributes": {"cost_unknown_model": "mistral-large-latest"}}
    own = calculate_cost("gpt-4o-mini", M, 0)  # the own table is unaffected
    assert own is not None and own.total_cost_usd == 0.15


def test_genai_prices_never_starts_its_updater() -> None:
    import genai_prices.data_snapshot as snapshot

    calculate_cost("mistral-large-latest", 1, 1)
    assert snapshot._custom_snapshot is None  # prices come from the bundled snapshot only


def test_price_source_is_stored_with_the_event(make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import llamonitor
    import pyarrow.dataset as ds
    from llamonitor.runtime import shutdown_sync
    from llamonitor.tracing import start_span

    llamonitor.initialize_monitoring_sync(make_config(tmp_path))
    try:
        for model in ("gpt-4o-mini", "mistral-large-latest", "my-secret-model"):
            start_span("chat", model=model).end(usage=TokenUsage(input_tokens=M, output_tokens=0))
    finally:
        shutdown_sync()
    rows = {r["model"]: r for r in ds.dataset(str(tmp_path / "data")).to_table().to_pylist()}
    as_of = get_price_table().lookup("gpt-4o-mini").as_of  # type: ignore[union-attr]
    # Parquet keeps CostInfo as the struct column ``cost`` (SQL backends: ``cost_price_source``)
    assert rows["gpt-4o-mini"]["cost"]["price_source"] == f"gpt-4o-mini@{as_of}"
    assert rows["mistral-large-latest"]["cost"]["price_source"] == "genai-prices@0.2.3:mistral/mistral-large"
    assert rows["mistral-large-latest"]["cost"]["total_cost_usd"] == 2.0
    assert rows["my-secret-model"]["cost"] is None


def test_every_genai_prices_model_is_priced_as_genai_prices_prices_it() -> None:
    """All ~2,300 (provider, model) pairs: the cached path (flattened or calc) gives its own figure."""
    from genai_prices import Usage, calc_price, data_snapshot

    usages = [TokenUsage(input_tokens=123_457, output_tokens=9_876),
              TokenUsage(input_tokens=300_000, output_tokens=1_000, cached_input_tokens=200_000,
                         cache_creation_input_tokens=50_000)]
    checked = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            for usage in usages:
                gp_usage = Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                                 cache_read_tokens=usage.cached_input_tokens or 0,
                                 cache_write_tokens=usage.cache_creation_input_tokens or 0)
                try:
                    expected = calc_price(gp_usage, model.id, provider_id=provider.id)
                except LookupError:  # an id its own provider's match rules do not accept
                    continue
                cost = fallback_cost(model.id, usage, provider.id)
                assert cost is not None, (provider.id, model.id)
                assert cost.total_cost_usd == pytest.approx(float(expected.total_price), rel=1e-9, abs=1e-9), \
                    (provider.id, model.id, usage)
                assert cost.price_source == f"genai-prices@0.2.3:{provider.id}/{expected.model.id}"
                checked += 1
    assert checked > 4000


@pytest.mark.parametrize(("model", "provider", "source"), [
    ("gpt-4o", "openai", "openai/gpt-4o"),                       # the event's provider
    ("openai/gpt-4o", None, "openai/gpt-4o"),                    # a provider prefix
    ("gpt-4o", "my-proxy", "openai/gpt-4o"),                     # unknown provider: genai-prices infers
    ("qwen3.6-plus", None, "quicksilverpro/qwen3.6-plus"),       # only one provider lists the id
    ("meta-llama/Llama-3.1-8B-Instruct", "novita", "novita/meta-llama/llama-3.1-8b-instruct"),
    ("meta-llama/Llama-3.1-8B-Instruct", None, None),            # 8 hosts list it: never guessed
    ("meta-llama/Llama-3.1-8B-Instruct", "together", None),      # named host does not list it
])
def test_provider_choice(model: str, provider: str | None, source: str | None) -> None:
    cost = fallback_cost(model, TokenUsage(input_tokens=M, output_tokens=0), provider)
    if source is None:
        assert cost is None
    else:
        assert cost is not None and cost.price_source == f"genai-prices@0.2.3:{source}"
