"""Property tests: monitoring never raises into user code; bad config is refused by field."""

from __future__ import annotations

from typing import Any

import llamonitor
from hypothesis import given, settings
from hypothesis import strategies as st
from llamonitor import MonitorConfig, StorageConfig, monitor_llm
from pydantic import ValidationError

# Arbitrary JSON-ish and Python values, including hostile ones.
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(),
                   st.binary(), st.complex_numbers(allow_nan=True))
values = st.recursive(leaves, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5),
    st.tuples(children, children)), max_leaves=25)


def test_any_arguments_and_result_pass_through_untouched(tmp_path: Any) -> None:
    from llamonitor.backends.registry import register_backend, unregister_backend
    from llamonitor.testing import InMemoryBackend

    sink = InMemoryBackend()
    register_backend("fuzz_memory", lambda cfg: sink)
    try:
        llamonitor.initialize_monitoring_sync(MonitorConfig(
            storage=StorageConfig(backend="fuzz_memory", flush_interval_seconds=0.05),
            spill_dir=str(tmp_path / "spill"), capture_content=True))
        calls = 0

        @settings(max_examples=150, deadline=None)
        @given(args=st.lists(values, max_size=4),
               kwargs=st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), values, max_size=3),
               result=values, attrs=st.dictionaries(st.text(max_size=8), values, max_size=3),
               mode=st.sampled_from(["capacity", "token", "hybrid", "auto"]))
        def passes_through(args: list[Any], kwargs: dict[str, Any], result: Any, attrs: dict[str, Any],
                           mode: str) -> None:
            nonlocal calls

            @monitor_llm("fuzz", measure_text=True, measure_images=True, collectors=["cost"], measurement=mode,
                         custom_attributes={**attrs, "model": "gpt-4o"})
            def call(*a: Any, **k: Any) -> Any:
                return result

            assert call(*args, **kwargs) is result
            calls += 1

        passes_through()
        assert llamonitor.flush_sync(30)
        health = llamonitor.health()
        # Every call became an event; no collector or builder choked on any value.
        assert health["build_errors"] == 0 and health["dropped_overflow"] == 0
        assert health["collector_errors"] == {}
        assert len(sink.events) == calls == health["processed"]
    finally:
        llamonitor.shutdown_sync(30)
        unregister_backend("fuzz_memory")


STORAGE_FIELDS = {
    "backend": st.one_of(st.text(max_size=12), st.integers()),
    "batch_size": st.one_of(st.integers(min_value=-10, max_value=10**7), st.text(max_size=5)),
    "flush_interval_seconds": st.one_of(st.floats(allow_nan=True), st.text(max_size=5)),
    "partition_by": st.text(max_size=10),
    "table_name": st.text(max_size=70),
    "pool_size": st.integers(min_value=-5, max_value=5000),
    "compression": st.text(max_size=8),
}
MONITOR_FIELDS = {
    "max_queue_size": st.one_of(st.integers(min_value=-10, max_value=10**8), st.floats(allow_nan=True)),
    "overflow_policy": st.text(max_size=12),
    "block_timeout_seconds": st.floats(allow_nan=True),
    "max_retries": st.integers(min_value=-3, max_value=300),
    "measurement": st.one_of(st.text(max_size=10), st.dictionaries(st.sampled_from(["mode", "nope"]),
                                                                    st.text(max_size=8), max_size=2)),
}


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(STORAGE_FIELDS)), data=st.data())
def test_bad_storage_config_names_the_field(field: str, data: st.DataObject) -> None:
    value = data.draw(STORAGE_FIELDS[field])
    kwargs: dict[str, Any] = {field: value}
    try:
        StorageConfig(**kwargs)
    except ValidationError as exc:
        assert field in str(exc)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(MONITOR_FIELDS)), data=st.data())
def test_bad_monitor_config_names_the_field(field: str, data: st.DataObject) -> None:
    value = data.draw(MONITOR_FIELDS[field])
    try:
        MonitorConfig(**{field: value})
    except ValidationError as exc:
        assert field in str(exc)
