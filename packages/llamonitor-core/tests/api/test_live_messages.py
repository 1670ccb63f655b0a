"""Live messages are ASCII JSON whatever the events hold, and parse back to the same values."""

from __future__ import annotations

import asyncio
import json

from llamonitor.api.hub import LiveHub, event_message
from llamonitor.schema.serialize import event_to_dict
from testkits.storage import make_events


def test_live_messages_are_ascii_and_carry_the_same_values() -> None:
    events = make_events(200, seed=61, sessions=3, days=1)
    events[0].operation_name = "résumé 😀 \u4e2d\u6587"
    expected = [json.loads(json.dumps(event_to_dict(e), default=str, ensure_ascii=False)) for e in events]
    assert any(not json.dumps(x, ensure_ascii=False).isascii() for x in expected)  # non-ASCII text inside

    one = event_message(events[0])
    assert one.isascii()
    assert json.loads(one) == {"type": "event", "data": expected[0]}
    assert json.loads(one)["data"]["operation_name"] == "résumé 😀 中文"

    async def first_message() -> str:
        hub = LiveHub(queue_size=1000)
        sub = hub.subscribe()
        hub.dispatch(events)  # more than coalesce_above waiting: one batch message
        messages = hub.messages(sub)
        try:
            return await anext(messages)
        finally:
            await messages.aclose()

    batch = asyncio.run(first_message())
    assert batch.isascii()
    assert json.loads(batch) == {"type": "batch", "data": expected}
