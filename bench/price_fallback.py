"""The two price sources: genai-prices fallback speed, and where it and the own table disagree.

Run: ``uv run python bench/price_fallback.py [n]``. Prints the one-off cost of loading
genai-prices' data, the per-call cost of a flat-priced fallback model, of a per-request-priced
one and of the own table (best of 5 x n), and, for every own-table model genai-prices also
prices, whether the two give the same cost for 10,000 input + 1,000 output tokens (below every
long-context threshold, so base prices are compared).
"""

from __future__ import annotations

import sys
import time
import timeit

from llamonitor.pricing import calculate_cost, get_price_table
from llamonitor.pricing.fallback import fallback_cost
from llamonitor.schema.events import TokenUsage


def main(n: int) -> None:
    usage = TokenUsage(input_tokens=1_234, output_tokens=567)
    t0 = time.perf_counter()
    fallback_cost("mistral-large-latest", usage)
    print(f"first fallback call (loads genai-prices' data): {time.perf_counter() - t0:.2f} s, once per process")
    cases = [("own table, gpt-4o-mini", lambda: calculate_cost("gpt-4o-mini", 1_234, 567)),
             ("genai-prices, flat price (mistral-large-latest)", lambda: fallback_cost("mistral-large-latest", usage)),
             ("genai-prices, per-request fee (perplexity sonar)", lambda: fallback_cost("sonar", usage, "perplexity")),
             ("unknown to both (cached miss)", lambda: fallback_cost("my-secret-model", usage))]
    for label, call in cases:
        call()
        best = min(timeit.repeat(call, number=n, repeat=5)) / n
        print(f"{label:52s} {best * 1e6:7.2f} µs per call")

    table = get_price_table()
    shared = agree = 0
    for model in table.models():
        price = table.lookup(model)
        assert price is not None
        own = calculate_cost(model, 10_000, 1_000, fallback=False)
        third = fallback_cost(model, TokenUsage(input_tokens=10_000, output_tokens=1_000), price.provider)
        if own is None or third is None:
            continue
        shared += 1
        if abs((own.total_cost_usd or 0) - (third.total_cost_usd or 0)) < 1e-9:
            agree += 1
        else:
            print(f"  differs: {model} (own provider {price.provider}): own ${own.total_cost_usd} "
                  f"({own.price_source}) vs ${third.total_cost_usd} ({third.price_source})")
    print(f"own-table models genai-prices also prices: {shared}; same cost: {agree}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
