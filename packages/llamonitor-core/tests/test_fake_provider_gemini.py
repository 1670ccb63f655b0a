"""The fake provider's Gemini endpoints, over plain HTTP (the google-genai SDK drives them in
``packages/llamonitor-google-adk/tests``), and its OpenAI / Anthropic routes beside them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from llamonitor.testing.fake_provider import FakeProvider

MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake: FakeProvider) -> None:
    fake.reset()


def _post(fake: FakeProvider, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(fake.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json", "x-goog-api-key": "test"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _sse(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in raw.decode().splitlines() if line.startswith("data: ")]


BODY = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


def test_generate_content_text_and_usage(fake: FakeProvider) -> None:
    fake.reply(text="Hi there", input_tokens=11, output_tokens=3, cached_tokens=4, reasoning_tokens=2)
    status, _, raw = _post(fake, f"/v1beta/models/{MODEL}:generateContent", BODY)
    assert status == 200
    body = json.loads(raw)
    (candidate,) = body["candidates"]
    assert candidate["content"] == {"role": "model", "parts": [{"text": "Hi there"}]}
    assert candidate["finishReason"] == "STOP"
    assert body["modelVersion"] == MODEL
    usage = body["usageMetadata"]
    assert (usage["promptTokenCount"], usage["candidatesTokenCount"], usage["cachedContentTokenCount"],
            usage["thoughtsTokenCount"], usage["totalTokenCount"]) == (11, 3, 4, 2, 16)
    (req,) = fake.requests_to(":generateContent")
    assert req.body == BODY and req.headers["x-goog-api-key"] == "test"


def test_function_calls_and_api_versions(fake: FakeProvider) -> None:
    fake.reply(tool_calls=[("transfer_to_agent", {"agent_name": "Billing"}), ("lookup", {"id": 7})])
    status, _, raw = _post(fake, f"/v1/models/{MODEL}:generateContent", BODY)
    assert status == 200
    parts = json.loads(raw)["candidates"][0]["content"]["parts"]
    assert parts == [{"functionCall": {"name": "transfer_to_agent", "args": {"agent_name": "Billing"}}},
                     {"functionCall": {"name": "lookup", "args": {"id": 7}}}]
    status, _, raw = _post(fake, f"/v1alpha/models/{MODEL}:generateContent", BODY)  # default reply
    assert status == 200 and json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"]
    status, _, _ = _post(fake, f"/v1beta/models/{MODEL}:countTokens", BODY)
    assert status == 404


def test_stream_generate_content_sse(fake: FakeProvider) -> None:
    fake.reply(text="one two three", input_tokens=5, output_tokens=3)
    status, headers, raw = _post(fake, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", BODY)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    chunks = _sse(raw)
    assert ["".join(p["text"] for p in c["candidates"][0]["content"]["parts"]) for c in chunks] == [
        "one", " two", " three"]
    assert [c["candidates"][0].get("finishReason") for c in chunks] == [None, None, "STOP"]
    # only the last chunk reports the answer's tokens
    assert [c["usageMetadata"].get("candidatesTokenCount") for c in chunks] == [None, None, 3]
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] == 8
    fake.reply(tool_calls=[("lookup", {"id": 1})])
    _, _, raw = _post(fake, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", BODY)
    (chunk,) = _sse(raw)
    assert chunk["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "lookup", "args": {"id": 1}}}]


@pytest.mark.parametrize(("status", "google_status"), [(429, "RESOURCE_EXHAUSTED"), (400, "INVALID_ARGUMENT"),
                                                        (500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_errors_use_googles_envelope(fake: FakeProvider, status: int, google_status: str) -> None:
    fake.error(status, "scripted failure", retry_after=2)
    got, headers, raw = _post(fake, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", BODY)
    assert got == status
    assert json.loads(raw) == {"error": {"code": status, "message": "scripted failure", "status": google_status}}
    assert headers["retry-after"] == "2"


def test_replies_scripted_for_a_path_wait_for_it(fake: FakeProvider) -> None:
    fake.reply(text="for gemini", path=":generateContent")
    fake.reply(text="for openai", path="/v1/chat/completions")
    _, _, raw = _post(fake, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []})
    assert json.loads(raw)["choices"][0]["message"]["content"] == "for openai"
    _, _, raw = _post(fake, f"/v1beta/models/{MODEL}:generateContent", BODY)
    assert json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"] == "for gemini"


def test_openai_and_anthropic_routes_unchanged(fake: FakeProvider) -> None:
    fake.error(429, "slow down")
    status, _, raw = _post(fake, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": []})
    assert status == 429 and json.loads(raw)["error"]["type"] == "rate_limit_exceeded"
    fake.error(429, "slow down")
    status, _, raw = _post(fake, "/v1/messages", {"model": "claude-haiku-4-5", "messages": []})
    assert status == 429 and json.loads(raw) == {"type": "error",
                                                 "error": {"type": "rate_limit_error", "message": "slow down"}}
    status, _, raw = _post(fake, "/chat/completions", {"model": "gpt-4o-mini", "messages": []})  # no /v1 prefix
    assert status == 200 and json.loads(raw)["object"] == "chat.completion"
    assert fake.gemini_base_url == fake.url + "/"
