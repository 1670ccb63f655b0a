"""Model prices and cost computation.

``PriceTable.default()`` holds the shipped ``prices.json``; :func:`get_price_table` is the
process-wide table (defaults plus ``$LLAMONITOR_PRICES_FILE`` plus anything registered).
Matching is by exact id or dated alias only -- see :mod:`llamonitor.pricing.table` and
``docs/pricing.md``. Models the table does not know are priced by the optional
``genai-prices`` package when installed (:mod:`llamonitor.pricing.fallback`, ``llamonitor[prices]``).
"""

from __future__ import annotations

from llamonitor.pricing.fallback import fallback_available, fallback_cost
from llamonitor.pricing.table import (
    PRICES_FILE_ENV,
    ModelPrice,
    PriceTable,
    calculate_cost,
    cost_for,
    get_price_table,
    reset_price_table,
)

__all__ = [
    "PRICES_FILE_ENV",
    "ModelPrice",
    "PriceTable",
    "calculate_cost",
    "cost_for",
    "fallback_available",
    "fallback_cost",
    "get_price_table",
    "reset_price_table",
]
