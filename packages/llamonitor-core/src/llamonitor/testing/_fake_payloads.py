"""Response bodies and SSE event sequences of the fake provider (OpenAI, Anthropic and Gemini shapes).

Every builder takes the decoded request body and a :class:`~llamonitor.testing.fake_provider.Reply`
and returns either a JSON body or a list of ``(event_name | None, data)`` SSE events, in the
order and shape the real APIs send them.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llamonitor.testing.fake_provider import Reply

SSE = list[tuple[str | None, Any]]


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(parts)] if text else []


def _model(body: dict[str, Any], reply: Reply) -> str:
    return reply.model or str(body.get("model") or "gpt-4o-mini")


def _finish(reply: Reply, default: str) -> str:
    if reply.finish_reason:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls and default == "stop" else (
        "tool_use" if reply.tool_calls else default)


# ---------------------------------------------------------------- OpenAI chat completions
def openai_usage(reply: Reply) -> dict[str, Any]:
    """The ``usage`` object of chat / legacy completions."""
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def _call_id(reply: Reply, i: int) -> str:
    # Unique per scripted reply (agent SDKs reject a call id reused by a later turn), stable within it.
    return f"call_{id(reply) & 0xFFFFFF:06x}_{i}"


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [{"id": _call_id(reply, i), "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(reply.tool_calls)]


def chat_completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if reply.tool_calls else reply.text,
                               "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    return {
        "id": reply.response_id or "chatcmpl-fake123", "object": "chat.completion", "created": int(time.time()),
        "model": _model(body, reply), "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply, "stop")}],
        "usage": openai_usage(reply),
    }


def chat_completion_chunks(body: dict[str, Any], reply: Reply) -> SSE:
    rid = reply.response_id or "chatcmpl-fake123"
    created = int(time.time())
    model = _model(body, reply)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                               "system_fingerprint": "fp_fake",
                               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            out["usage"] = None
        return out

    events: SSE = [(None, chunk({"role": "assistant", "content": "" if not reply.tool_calls else None,
                                 "refusal": None}))]
    if reply.tool_calls:
        for i, call in enumerate(_tool_calls(reply)):
            events.append((None, chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                        "function": {"name": call["function"]["name"],
                                                                     "arguments": ""}}]})))
            events.append((None, chunk({"tool_calls": [{"index": i, "function": {
                "arguments": call["function"]["arguments"]}}]})))
    else:
        events.extend((None, chunk({"content": w})) for w in _words(reply.text))
    events.append((None, chunk({}, _finish(reply, "stop"))))
    if include_usage:
        events.append((None, {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                              "system_fingerprint": "fp_fake", "choices": [], "usage": openai_usage(reply)}))
    events.append((None, "[DONE]"))
    return events


# ---------------------------------------------------------------- OpenAI legacy completions
def completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {"id": reply.response_id or "cmpl-fake123", "object": "text_completion", "created": int(time.time()),
            "model": _model(body, reply),
            "choices": [{"text": reply.text, "index": 0, "logprobs": None, "finish_reason": _finish(reply, "stop")}],
            "usage": openai_usage(reply)}


def completion_chunks(body: dict[str, Any], reply: Reply) -> SSE:
    rid, created, model = reply.response_id or "cmpl-fake123", int(time.time()), _model(body, reply)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    words = _words(reply.text)
    events: SSE = []
    for i, w in enumerate(words):
        last = i == len(words) - 1
        data: dict[str, Any] = {"id": rid, "object": "text_completion", "created": created, "model": model,
                                "choices": [{"text": w, "index": 0, "logprobs": None,
                                             "finish_reason": _finish(reply, "stop") if last else None}]}
        if include_usage:
            data["usage"] = None
        events.append((None, data))
    if include_usage:
        events.append((None, {"id": rid, "object": "text_completion", "created": created, "model": model,
                              "choices": [], "usage": openai_usage(reply)}))
    events.append((None, "[DONE]"))
    return events


# ---------------------------------------------------------------- OpenAI embeddings
def embeddings(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    inp = body.get("input")
    items = inp if isinstance(inp, list) and inp and not isinstance(inp[0], int) else [inp]
    dims = int(body.get("dimensions") or 8)
    return {"object": "list", "model": _model(body, reply),
            "data": [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1)] * dims}
                     for i in range(len(items))],
            "usage": {"prompt_tokens": reply.input_tokens, "total_tokens": reply.input_tokens}}


# ---------------------------------------------------------------- OpenAI responses
def _responses_usage(reply: Reply) -> dict[str, Any]:
    return {"input_tokens": reply.input_tokens, "input_tokens_details": {"cached_tokens": reply.cached_tokens},
            "output_tokens": reply.output_tokens,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": reply.input_tokens + reply.output_tokens}


def _responses_output(reply: Reply, rid: str) -> list[dict[str, Any]]:
    if reply.tool_calls:
        return [{"type": "function_call", "id": f"fc_{i}", "call_id": _call_id(reply, i), "name": name,
                 "arguments": json.dumps(args), "status": "completed"}
                for i, (name, args) in enumerate(reply.tool_calls)]
    return [{"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": reply.text, "annotations": []}]}]


def response(body: dict[str, Any], reply: Reply, *, status: str = "completed") -> dict[str, Any]:
    rid = reply.response_id or "resp_fake123"
    done = status == "completed"
    return {"id": rid, "object": "response", "created_at": int(time.time()), "status": status,
            "model": _model(body, reply), "output": _responses_output(reply, rid) if done else [],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "error": None,
            "incomplete_details": None, "instructions": None, "metadata": {},
            "temperature": body.get("temperature"), "top_p": body.get("top_p"),
            "max_output_tokens": body.get("max_output_tokens"),
            "usage": _responses_usage(reply) if done else None}


def response_events(body: dict[str, Any], reply: Reply) -> SSE:
    rid = reply.response_id or "resp_fake123"
    seq = iter(range(1000))
    events: SSE = []
    for name in ("response.created", "response.in_progress"):
        events.append((name, {"type": name, "sequence_number": next(seq),
                              "response": response(body, reply, status="in_progress")}))
    if not reply.tool_calls:
        item = {"type": "message", "id": f"msg_{rid}", "status": "in_progress", "role": "assistant", "content": []}
        events.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                                       "item": item, "sequence_number": next(seq)}))
        for w in _words(reply.text):
            events.append(("response.output_text.delta", {
                "type": "response.output_text.delta", "item_id": f"msg_{rid}", "output_index": 0,
                "content_index": 0, "delta": w, "logprobs": [], "sequence_number": next(seq)}))
        events.append(("response.output_text.done", {
            "type": "response.output_text.done", "item_id": f"msg_{rid}", "output_index": 0, "content_index": 0,
            "text": reply.text, "logprobs": [], "sequence_number": next(seq)}))
    events.append(("response.completed", {"type": "response.completed", "sequence_number": next(seq),
                                          "response": response(body, reply)}))
    return events


# ---------------------------------------------------------------- Anthropic messages
def _anthropic_usage(reply: Reply, *, output: int) -> dict[str, Any]:
    # Anthropic's input_tokens exclude cache reads and cache writes.
    return {"input_tokens": reply.input_tokens, "output_tokens": output,
            "cache_creation_input_tokens": reply.cache_creation_tokens,
            "cache_read_input_tokens": reply.cached_tokens, "service_tier": "standard"}


def _anthropic_content(reply: Reply) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if reply.text and not reply.tool_calls:
        content.append({"type": "text", "text": reply.text})
    for i, (name, args) in enumerate(reply.tool_calls):
        content.append({"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args})
    return content


def message(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    return {"id": reply.response_id or "msg_fake123", "type": "message", "role": "assistant",
            "model": reply.model or str(body.get("model") or "claude-sonnet-4-5"),
            "content": _anthropic_content(reply), "stop_reason": _finish(reply, "end_turn"),
            "stop_sequence": None, "usage": _anthropic_usage(reply, output=reply.output_tokens)}


def message_events(body: dict[str, Any], reply: Reply) -> SSE:
    start = message(body, reply)
    start.update(content=[], stop_reason=None, usage=_anthropic_usage(reply, output=1))
    events: SSE = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(_anthropic_content(reply)):
        if block["type"] == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}}))
            events.append(("ping", {"type": "ping"}))
            for w in _words(block["text"]):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "text_delta", "text": w}}))
        else:
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {**block, "input": {}}}))
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": _finish(reply, "end_turn"), "stop_sequence": None},
                                     "usage": {"output_tokens": reply.output_tokens}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# ---------------------------------------------------------------- Gemini generateContent
#: HTTP status -> the ``status`` of Google's error envelope
_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
                  501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def gemini_usage(reply: Reply, *, final: bool = True) -> dict[str, Any]:
    """The ``usageMetadata`` object.

    As Gemini reports it: ``promptTokenCount`` includes ``cachedContentTokenCount``, thinking tokens
    (``thoughtsTokenCount``) are counted apart from ``candidatesTokenCount`` and added to the total.
    A stream's chunks before the last carry the prompt count only.
    """
    usage: dict[str, Any] = {"promptTokenCount": reply.input_tokens,
                             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": reply.input_tokens}]}
    if not final:
        usage["totalTokenCount"] = reply.input_tokens
        return usage
    usage["candidatesTokenCount"] = reply.output_tokens
    usage["totalTokenCount"] = reply.input_tokens + reply.output_tokens + reply.reasoning_tokens
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    if reply.reasoning_tokens:
        usage["thoughtsTokenCount"] = reply.reasoning_tokens
    return usage


def _gemini_model(model: str, reply: Reply) -> str:
    return reply.model or model


def _gemini_parts(reply: Reply, text: str | None) -> list[dict[str, Any]]:
    if reply.tool_calls:
        return [{"functionCall": {"name": name, "args": args}} for name, args in reply.tool_calls]
    return [{"text": text if text is not None else reply.text}]


def _gemini_candidate(reply: Reply, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return candidate


def gemini_content(model: str, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """A ``generateContent`` response (function calls as ``functionCall`` parts)."""
    return {"candidates": [_gemini_candidate(reply, _gemini_parts(reply, None), reply.finish_reason or "STOP")],
            "usageMetadata": gemini_usage(reply), "modelVersion": _gemini_model(model, reply),
            "responseId": reply.response_id or "gemini_fake123"}


def gemini_content_chunks(model: str, body: dict[str, Any], reply: Reply) -> SSE:
    """``streamGenerateContent?alt=sse``: one chunk per word (function calls in one chunk); the last
    chunk has the finish reason and the full usage."""
    rid, version = reply.response_id or "gemini_fake123", _gemini_model(model, reply)
    pieces: list[list[dict[str, Any]]] = [_gemini_parts(reply, None)] if reply.tool_calls else \
        [[{"text": w}] for w in _words(reply.text)] or [[{"text": ""}]]
    events: SSE = []
    for i, parts in enumerate(pieces):
        last = i == len(pieces) - 1
        events.append((None, {"candidates": [_gemini_candidate(reply, parts, (reply.finish_reason or "STOP")
                                                               if last else None)],
                              "usageMetadata": gemini_usage(reply, final=last), "modelVersion": version,
                              "responseId": rid}))
    return events


def google_error_body(status: int, message: str, error_type: str | None) -> dict[str, Any]:
    """Google's error envelope (``error.code`` / ``message`` / ``status``)."""
    return {"error": {"code": status, "message": message,
                      "status": error_type or _GOOGLE_STATUS.get(status, "UNKNOWN")}}


def error_body(path: str, status: int, message: str, error_type: str | None) -> dict[str, Any]:
    """The provider's error envelope (Anthropic for ``/messages``, OpenAI otherwise)."""
    if path.endswith("/messages"):
        kind = error_type or {400: "invalid_request_error", 401: "authentication_error",
                              429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = error_type or {400: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}
