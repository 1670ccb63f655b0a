"""The writer takes records with their byte estimate: found by one C-level pass when no record keeps
arguments, and the same sum as record by record when some do (what ``put`` added is what ``release``
gives back)."""

from __future__ import annotations

from typing import Any

from llamonitor.transport.recorder import Recorder, estimate_bytes
from llamonitor.transport.records import OperationSpec

SPEC = OperationSpec("take")


def _record(i: int, args: Any = None, result: Any = None) -> tuple[Any, ...]:
    return (SPEC, None, 1, i + 1, None, None, 1, 1, args, None, result, None, None)


def test_taken_bytes_are_the_sum_of_the_records_estimates_and_all_go_back() -> None:
    rec = Recorder(1000, "drop", 0.0, 10, max_bytes=10_000_000)
    records = [_record(i, ("x" * i,) if i % 3 == 0 else None, "y" * 50) for i in range(30)]
    for r in records:
        assert rec.put(r) is not False
    assert rec.bytes == sum(map(estimate_bytes, records)) > 0
    batch, nbytes = rec.take_held(100)
    assert batch == records
    assert nbytes == sum(estimate_bytes(r) for r in records if r[8] is not None) == rec.bytes
    rec.release(len(batch), nbytes)
    assert rec.bytes == 0 and rec.held == 0


def test_records_without_arguments_weigh_nothing() -> None:
    rec = Recorder(1000, "drop", 0.0, 10, max_bytes=1000)
    for i in range(50):
        rec.put(_record(i, result="z" * 500))
    batch, nbytes = rec.take_held(100)
    assert len(batch) == 50 and nbytes == 0 and rec.bytes == 0
