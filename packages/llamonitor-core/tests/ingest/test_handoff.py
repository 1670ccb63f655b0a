"""The receiver's hand-off to the writer: a batch answered 200 is queued whole, never partly dropped.

The writer's queue has room for ``max_size`` records minus those it holds while delivering
(``Recorder.limit``); a batch that does not fit in that room is refused whole (503, the exporter
retries), whatever the overflow policy, and concurrent requests never overshoot it together.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from llamonitor.ingest.receiver import Backpressure, Ingestor
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.transport.recorder import Recorder
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as g
from testkits.otlp import otlp_json_body

CHAT = {g.GEN_AI_OPERATION_NAME: "chat", g.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", g.GEN_AI_USAGE_INPUT_TOKENS: 10}


def _ingestor(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> Ingestor:
    ingestor = Ingestor(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="unused")))
    monkeypatch.setattr(ingestor, "_recorder", lambda: recorder)
    return ingestor


def _spans(n: int, offset: int = 0) -> bytes:
    return otlp_json_body(*((f"{offset + i + 1:016x}", "chat", CHAT, None) for i in range(n)))


@pytest.mark.parametrize("policy", ["drop_newest", "block"])
def test_batch_beyond_the_room_the_writer_leaves_is_refused_whole(policy: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(1000, policy, block_timeout=0.2, wake_at=10_000)
    recorder.take_held(0)
    recorder.held, recorder.limit = 600, 400  # the writer is delivering 600 records
    ingestor = _ingestor(recorder, monkeypatch)
    with pytest.raises(Backpressure):
        ingestor.ingest_body(_spans(512), "application/json", None)
    assert len(recorder) == 0 and recorder.dropped_overflow == 0
    ingestor.ingest_body(_spans(400), "application/json", None)  # exactly the room: accepted whole
    assert len(recorder) == 400 and recorder.dropped_overflow == 0


class YieldingRecorder(Recorder):
    """Lets other threads run between two puts (as a busy server does), so a check-then-put race shows."""

    __slots__ = ()

    def put(self, record: Any) -> None:
        time.sleep(0)
        super().put(record)


def test_concurrent_requests_never_overshoot_the_room(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = YieldingRecorder(1000, "drop_newest", block_timeout=0.2, wake_at=10_000)
    ingestor = _ingestor(recorder, monkeypatch)
    bodies = [_spans(300, offset=1000 * i) for i in range(8)]
    outcomes: list[Any] = []
    start = threading.Barrier(len(bodies))

    def post(body: bytes) -> None:
        start.wait()
        try:
            outcomes.append(len(ingestor.ingest_body(body, "application/json", None).records))
        except Backpressure as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [o for o in outcomes if isinstance(o, int)]
    assert sum(accepted) == len(recorder) == 900  # three batches fit in 1000, the rest were refused
    assert recorder.dropped_overflow == 0
