"""Property: any values a monitored call can carry come back from every backend as documented.

Hypothesis draws names, sessions, models, error messages, results and nested custom attributes
from all of Unicode (lone surrogates, NUL, astral characters), NaN / infinities, empty and huge
strings. They go through the real writer into each backend and are read back by the query
layer: each value equals the documented sanitising of what was recorded (an independent model
below, not the code under test), and nothing is counted lost.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from pathlib import Path
from typing import Any

import llamonitor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llamonitor import monitor_llm, monitoring_session
from llamonitor.query import EventFilter, create_query_backend
from llamonitor.schema.config import MonitorConfig, StorageConfig

_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_LONE = re.compile("[\ud800-\udfff]")


def text_model(value: str, limit: int | None = None) -> str:
    """docs/reliability.md "Values no store can hold", written out independently."""
    value = _PAIR.sub(lambda m: chr(0x10000 + ((ord(m[0][0]) - 0xD800) << 10) + (ord(m[0][1]) - 0xDC00)), value)
    value = _LONE.sub("\ufffd", value).replace("\x00", "\ufffd")
    return value if limit is None or len(value) <= limit else value[:limit - 1] + "…"


def numbers_as_floats(value: Any) -> Any:
    """JSON numbers compared as numbers: PostgreSQL's jsonb writes 6.0e16 back as 60000000000000000."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        return {k: numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_as_floats(v) for v in value]
    return value


def json_model(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return text_model(value)
    if isinstance(value, dict):
        return {text_model(k): json_model(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_model(v) for v in value]
    return value


any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
names = st.one_of(st.text(st.characters(), min_size=1, max_size=30),
                  st.text(st.characters(blacklist_categories=()), min_size=1, max_size=12),
                  st.builds(lambda c, n: c * n, st.sampled_from("xé😀\ud800\x00"), st.integers(600, 3000)))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                    st.floats(allow_nan=True, allow_infinity=True), any_text)
attributes = st.dictionaries(any_text, st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)), max_leaves=8), max_size=4)
calls = st.lists(st.fixed_dictionaries({
    "operation": names, "session": names, "model": names, "attributes": attributes,
    "error": st.one_of(st.none(), st.text(st.characters(), max_size=60)),
    "result": st.text(st.characters(), max_size=80),
}), min_size=1, max_size=6)
_case = itertools.count()


async def _read(storage: StorageConfig) -> list[Any]:
    query = create_query_backend(storage)
    try:
        return list((await query.events(EventFilter(), limit=10_000)).events)
    finally:
        await query.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(drawn=calls)
def test_recorded_values_come_back_as_documented(drawn: list[dict[str, Any]], storage_config: StorageConfig,
                                                 tmp_path: Path) -> None:
    case = next(_case)
    if llamonitor.get_writer() is None:
        storage = storage_config.model_copy(update={"batch_size": 50, "flush_interval_seconds": 0.05})
        llamonitor.initialize_monitoring_sync(MonitorConfig(storage=storage, spill_dir=str(tmp_path / "spill"),
                                                            capture_content=True))
    for i, call in enumerate(drawn):
        attrs = {**call["attributes"], "case": case, "i": i, "model": call["model"]}

        @monitor_llm(call["operation"], custom_attributes=attrs)
        def fn(error: str | None = call["error"], result: str = call["result"]) -> str:
            if error is not None:
                raise ValueError(error)
            return result

        with monitoring_session(call["session"]):
            try:
                fn()
            except ValueError:
                pass
    assert llamonitor.flush_sync(30)
    health = llamonitor.health()
    assert all(s["lost_events"] == 0 and s["dead_lettered"] == 0 for s in health["sinks"].values()), health
    stored = {e.custom_attributes["i"]: e for e in asyncio.run(_read(storage_config))
              if e.custom_attributes.get("case") == case}
    assert sorted(stored) == list(range(len(drawn)))
    for i, call in enumerate(drawn):
        e = stored[i]
        assert e.operation_name == text_model(call["operation"], 512)
        assert e.session_id == text_model(call["session"], 255)
        assert e.model == text_model(call["model"], 512)
        expected_attrs = json_model({**call["attributes"], "case": case, "i": i, "model": call["model"]})
        assert numbers_as_floats(e.custom_attributes) == numbers_as_floats(expected_attrs)
        if call["error"] is None:
            assert not e.error and e.output_content == text_model(call["result"])
        else:
            assert e.error and e.error_message == text_model(call["error"])
