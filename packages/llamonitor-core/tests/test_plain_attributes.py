"""``dumps_attributes`` encodes with one reused C encoder call: its text must be exactly the
``JSONEncoder``'s for every value, hostile ones included (and an error where that one errs), and in
the writer's fast path a collector's added attributes merge after the record's own as the general
path merges them."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest
from llamonitor.schema.columns import event_to_row
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.schema.events import TokenUsage
from llamonitor.schema.serialize import _encode, _encode_fast
from llamonitor.transport.enrich import EventBuilder
from llamonitor.transport.records import OperationSpec


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


def _cyclic() -> dict[str, Any]:
    inner: dict[str, Any] = {"a": 1}
    inner["self"] = inner
    return {"k": inner}


CASES: list[dict[str, Any]] = [
    {"team": "search", "n": 3, "f": 0.1, "b": True, "none": None},
    {"nan": math.nan, "inf": math.inf, "ninf": -math.inf},
    {"nul": "a\x00b", "surrogate": "x\udc80y", "accent": "café", "emoji": "\U0001f600"},
    {"when": datetime(2026, 1, 2, tzinfo=timezone.utc), "raw": b"\xffbytes", "set": {1}, "tuple": (1, 2)},
    {"obj": object(), "bad": _Unprintable()},
    {"nested": {"list": [1, "two", {"three": math.nan}]}, "k\x00": 1},
    {1: "int key", None: "none key", 2.5: "float key"},
    _cyclic(),
    {"\u2028": "line separator", "quote": '"\\'},
]


_ENCODE_ERRORS = (ValueError, TypeError, RecursionError)


@pytest.mark.parametrize("attrs", CASES)
def test_the_reused_c_encoder_gives_the_json_encoders_text(attrs: dict[str, Any]) -> None:
    try:
        expected = _encode(attrs)
    except _ENCODE_ERRORS:  # a cycle (ValueError there, RecursionError here) or a non-string key
        with pytest.raises(_ENCODE_ERRORS):
            _encode_fast(attrs)
        return
    assert _encode_fast(attrs) == expected


def test_added_attributes_merge_after_the_records_own_as_in_the_general_path() -> None:
    config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="unused"))
    spec = OperationSpec("priced", custom_attributes={"cost_model": "spec's", "team": "a"}, model="gpt-4o-mini")
    usage = TokenUsage(input_tokens=100, output_tokens=20, total_tokens=120, source="provider")
    records = [
        (spec, None, 1, 1 << 20, None, None, 1_767_225_600_000_000_000, 1000, None, None, None, None,
         {"usage": usage, "attributes": {"estimated_cost_usd": "mine", "x": math.nan, "team": "b"}}),
        (spec, None, 2, 1 << 21, None, None, 1_767_225_600_000_000_000, 1000, None, None, None, None,
         {"usage": usage}),  # no attributes of its own: the added ones only
        (spec, None, 3, 1 << 22, None, None, 1_767_225_600_000_000_000, 1000, None, None, None, None,
         {"attributes": {"only": "extra"}}),  # no usage: nothing added
    ]
    builder = EventBuilder(config)
    batch = builder.build_batch(records)
    assert builder.plain_built == len(records)
    general = EventBuilder(config)
    assert batch.rows == [event_to_row(general.build(r)) for r in records]
