"""One bad value costs at most itself: hostile values in one event never lose its batch.

Each case records 10 calls through the real writer into each backend; one of them carries a
hostile value (a lone surrogate, NaN / infinity in custom attributes, an over-long identifier).
Every event must be stored (the bad value sanitised as documented in docs/reliability.md) and
nothing counted lost.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import llamonitor
import pytest
from llamonitor import monitor_llm, monitoring_session
from llamonitor.query import EventFilter, create_query_backend
from llamonitor.schema.config import MonitorConfig, StorageConfig

SURROGATE = "abc\ud800def"


async def _stored(storage: StorageConfig) -> list[Any]:
    query = create_query_backend(storage)
    try:
        page = await query.events(EventFilter(), limit=1000)
        return list(page.events)
    finally:
        await query.close()


def _record(storage: StorageConfig, tmp_path: Path, poison: str, **config: Any) -> dict[str, Any]:
    cfg = MonitorConfig(storage=storage.model_copy(update={"batch_size": 10, "flush_interval_seconds": 0.05}),
                        spill_dir=str(tmp_path / "spill"), retry_backoff_seconds=0.01, max_retries=2,
                        circuit_open_seconds=0.05, **config)
    llamonitor.initialize_monitoring_sync(cfg)

    def call(i: int) -> Any:
        bad = i == 4
        attrs: dict[str, Any] = {"n": i}
        if bad and poison == "attr_value":
            attrs["note"] = SURROGATE
        if bad and poison == "attr_key":
            attrs[SURROGATE] = 1
        if bad and poison == "nan":
            attrs.update(ratio=math.nan, big=math.inf, small=-math.inf, nested={"x": [math.nan, 1.5]})
        name = "op"
        if bad and poison == "operation_name":
            name = SURROGATE
        if bad and poison == "long_operation_name":
            name = "o" * 5000
        model = "m"
        if bad and poison == "model":
            model = SURROGATE

        @monitor_llm(name, custom_attributes={**attrs, "model": model}, capture_content=True)
        def fn() -> str:
            if bad and poison == "error_message":
                raise ValueError(SURROGATE)
            return SURROGATE if bad and poison == "result" else "ok"

        session = "s"
        if bad and poison == "session_id":
            session = SURROGATE
        if bad and poison == "long_session_id":
            session = "s" * 1000
        with monitoring_session(session):
            try:
                return fn()
            except ValueError:
                return None

    for i in range(10):
        call(i)
    assert llamonitor.flush_sync(30)
    health = llamonitor.health()
    llamonitor.shutdown_sync(30)
    return health


POISONS = ["attr_value", "attr_key", "nan", "operation_name", "long_operation_name", "model", "error_message",
           "result", "session_id", "long_session_id"]


@pytest.mark.parametrize("poison", POISONS)
def test_one_hostile_value_costs_at_most_itself(poison: str, storage_config: StorageConfig, tmp_path: Path) -> None:
    health = _record(storage_config, tmp_path, poison)
    sink = health["sinks"][next(iter(health["sinks"]))]
    assert sink["lost_events"] == 0, sink
    events = asyncio.run(_stored(storage_config))
    assert len(events) == 10, (len(events), sink)
    assert sorted(e.custom_attributes["n"] for e in events) == list(range(10))
    bad = next(e for e in events if e.custom_attributes["n"] == 4)
    for text in (bad.operation_name, bad.model, bad.session_id, bad.error_message or "", bad.output_content or "",
                 *map(str, bad.custom_attributes), *map(str, bad.custom_attributes.values())):
        text.encode("utf-8")  # every stored string is valid UTF-8
    if poison in ("attr_value", "operation_name", "model", "session_id", "error_message", "result"):
        assert "abc\ufffddef" in (bad.custom_attributes.get("note"), bad.operation_name, bad.model, bad.session_id,
                                  bad.error_message, bad.output_content)
    if poison == "nan":
        assert bad.custom_attributes["ratio"] is None and bad.custom_attributes["big"] is None
        assert bad.custom_attributes["nested"] == {"x": [None, 1.5]}
    if poison == "long_operation_name":
        assert bad.operation_name.startswith("ooo") and len(bad.operation_name) <= 512
    if poison == "long_session_id":
        assert bad.session_id.startswith("sss") and len(bad.session_id) <= 255


_CHECK = {
    "postgres": 'ALTER TABLE "{schema}"."{table}" ADD CONSTRAINT no_forbidden '
                "CHECK (operation_name <> 'forbidden')",
    "mysql": "ALTER TABLE `test`.`{table}` ADD CONSTRAINT no_forbidden CHECK (operation_name <> 'forbidden')",
    "clickhouse": "ALTER TABLE `{schema}`.`{table}` ADD CONSTRAINT no_forbidden CHECK operation_name != 'forbidden'",
}


async def _add_check(storage: StorageConfig) -> None:
    from llamonitor.backends.clickhouse import ClickHouseBackend
    from llamonitor.backends.registry import create_backend

    backend = create_backend(storage)
    await backend.initialize()
    try:
        sql = _CHECK[storage.backend].format(schema=storage.schema_name, table=storage.table_name)
        if isinstance(backend, ClickHouseBackend):
            backend.client.command(sql)
        else:
            await backend.fetch(sql, ())  # type: ignore[attr-defined]
    finally:
        await backend.close()


def test_a_value_the_server_itself_refuses_is_dead_lettered_alone(server_storage: StorageConfig,
                                                                  tmp_path: Path) -> None:
    """A CHECK constraint the application's DBA added: the server refuses two events of a batch of 20."""
    asyncio.run(_add_check(server_storage))
    cfg = MonitorConfig(storage=server_storage.model_copy(update={"batch_size": 20, "flush_interval_seconds": 0.05}),
                        spill_dir=str(tmp_path / "spill"), retry_backoff_seconds=0.01, circuit_open_seconds=0.05)
    llamonitor.initialize_monitoring_sync(cfg)
    for i in range(20):
        monitor_llm("forbidden" if i in (3, 17) else "allowed", custom_attributes={"n": i})(lambda: None)()
    assert llamonitor.flush_sync(30)
    sink = llamonitor.health()["sinks"][server_storage.backend]
    llamonitor.shutdown_sync(30)
    assert sink["dead_lettered"] == 2 and sink["lost_events"] == 0 and sink["spilled_events"] == 0, sink
    stored = asyncio.run(_stored(server_storage))
    assert sorted(e.custom_attributes["n"] for e in stored) == [i for i in range(20) if i not in (3, 17)]
    lines = [line for p in (tmp_path / "spill" / "_dead_letter").glob("*/*.jsonl")
             for line in p.read_text().splitlines()]
    assert len(lines) == 2 and all("no_forbidden" in line for line in lines)
