"""A fake OpenAI-, Anthropic- and Gemini-compatible HTTP server for tests (standard library only).

It binds ``127.0.0.1`` on a free port, answers the endpoints the SDKs call, streams SSE the way
the providers do and records every request it receives::

    with FakeProvider() as fake:
        fake.reply(text="Hi!", input_tokens=10, output_tokens=2)      # next request gets this
        fake.error(429, retry_after=0)                                  # ... or an error
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="test")
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert len(fake.requests) == 1

Endpoints: ``POST /v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``,
``/v1/responses`` (OpenAI) and ``/v1/messages`` (Anthropic), each with ``"stream": true``
support where the real API has it. OpenAI streams send the final usage-only chunk only when the
request asks for it with ``stream_options.include_usage``; Anthropic streams send
``message_start`` / ``content_block_*`` / ``message_delta`` (with usage) / ``message_stop``.

Gemini (the Gemini Developer API that ``google-genai`` calls, so Google ADK agents too):
``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse`` (also
under ``/v1`` and ``/v1alpha``), with ``usageMetadata``, ``functionCall`` parts for
``tool_calls`` and Google's error envelope (``RESOURCE_EXHAUSTED`` for 429). Point the SDK at
it with ``genai.Client(api_key="test", http_options=HttpOptions(base_url=fake.gemini_base_url))``
(or ``GOOGLE_GEMINI_BASE_URL``); ADK's ``Gemini(model=..., base_url=fake.gemini_base_url)``.

Scripted replies are consumed in order (optionally per path); when none is queued, a default
successful reply is sent. In pytest, use the ``fake_provider`` fixture from
:mod:`llamonitor.testing.pytest_fixtures`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from llamonitor.testing import _fake_payloads as payloads

__all__ = ["FakeProvider", "RecordedRequest", "Reply"]


@dataclass
class Reply:
    """One scripted answer. Token counts are what the server reports as usage.

    ``cached_tokens`` is OpenAI's ``cached_tokens`` / Anthropic's ``cache_read_input_tokens`` /
    Gemini's ``cachedContentTokenCount``; ``cache_creation_tokens`` is Anthropic's
    ``cache_creation_input_tokens``. For Anthropic, ``input_tokens`` is reported as Anthropic does
    (excluding cache reads and writes); for Gemini, ``reasoning_tokens`` is ``thoughtsTokenCount``,
    reported beside ``candidatesTokenCount`` (= ``output_tokens``) and added to the total.
    ``tool_calls`` is a list of ``(name, arguments)``. A ``status`` other than 200 sends the
    provider's error envelope with ``error_message`` (and ``Retry-After`` if ``retry_after``).
    """

    text: str = "Hello from the fake provider."
    model: str | None = None
    input_tokens: int = 12
    output_tokens: int = 7
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finish_reason: str | None = None
    response_id: str | None = None
    status: int = 200
    error_message: str = "scripted error"
    error_type: str | None = None
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to wait before answering (to provoke client timeouts)
    delay: float = 0.0
    #: only answer requests to paths ending with this (``"/v1/embeddings"``, ``":generateContent"``); ``None`` = any
    path: str | None = None


@dataclass
class RecordedRequest:
    """A request the fake provider received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float

    @property
    def json(self) -> Any:
        """The decoded JSON body (alias of ``body``)."""
        return self.body


_Builder = Callable[[dict[str, Any], Reply], Any]
#: path -> (JSON builder, SSE builder or None)
_ROUTES: dict[str, tuple[_Builder, _Builder | None]] = {
    "/v1/chat/completions": (payloads.chat_completion, payloads.chat_completion_chunks),
    "/v1/completions": (payloads.completion, payloads.completion_chunks),
    "/v1/embeddings": (payloads.embeddings, None),
    "/v1/responses": (payloads.response, payloads.response_events),
    "/v1/messages": (payloads.message, payloads.message_events),
}
#: Gemini Developer API: ``/<version>/models/<model>:<method>``
_GEMINI = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": []})
        else:
            self._send_json(404, payloads.error_body(self.path, 404, "not found", None))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self._record(body)
        path = self.path.split("?", 1)[0]
        gemini = _GEMINI.match(path)
        if gemini is not None:
            self._gemini(path, gemini["model"], gemini["method"] == "streamGenerateContent", body)
            return
        if not path.startswith("/v1/"):
            path = "/v1" + path
        route = _ROUTES.get(path)
        if route is None or not isinstance(body, dict):
            self._send_json(404, payloads.error_body(path, 404, f"no route {path}", None))
            return
        reply, headers = self._take_reply(path)
        if reply.status != 200:
            self._send_json(reply.status, payloads.error_body(path, reply.status, reply.error_message,
                                                              reply.error_type), headers)
            return
        build, build_stream = route
        if body.get("stream") and build_stream is not None:
            self._send_sse(build_stream(body, reply), headers)
        else:
            self._send_json(200, build(body, reply), headers)

    def _gemini(self, path: str, model: str, stream: bool, body: Any) -> None:
        if not isinstance(body, dict):
            self._send_json(400, payloads.google_error_body(400, "invalid JSON payload", None))
            return
        reply, headers = self._take_reply(path)
        if reply.status != 200:
            self._send_json(reply.status, payloads.google_error_body(reply.status, reply.error_message,
                                                                     reply.error_type), headers)
        elif stream:  # the SDK asks for ``alt=sse``; without it Google streams a JSON array (not served here)
            self._send_sse(payloads.gemini_content_chunks(model, body, reply), headers)
        else:
            self._send_json(200, payloads.gemini_content(model, body, reply), headers)

    def _take_reply(self, path: str) -> tuple[Reply, dict[str, str]]:
        """The next scripted reply for ``path``, after its delay, and its response headers."""
        reply = self.server.owner._next_reply(path)
        if reply.delay:
            time.sleep(reply.delay)
        headers = dict(reply.headers)
        if reply.retry_after is not None:
            headers["retry-after"] = f"{reply.retry_after:g}"
        return reply, headers

    def _record(self, body: Any) -> None:
        req = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                              time.time())
        self.server.owner._record(req)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_fake")
        self.send_header("request-id", "req_fake")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(self, events: list[tuple[str | None, Any]], headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", "req_fake")
        self.send_header("request-id", "req_fake")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            for name, data in events:
                text = data if isinstance(data, str) else json.dumps(data)
                frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
                chunk = frame.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client closed a partly read stream
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeProvider

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # clients hanging up are normal


class FakeProvider:
    """The fake server. Start with :meth:`start` (or ``with``); stop with :meth:`stop`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self._default = Reply()
        #: every request received, in arrival order
        self.requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeProvider:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is None:
            server = _Server((self._host, self._port), _Handler)
            server.owner = self
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="llamonitor-fake-provider", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("the fake provider is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self._host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` (ends with ``/v1``)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic`` (the SDK adds ``/v1``)."""
        return self.url

    @property
    def gemini_base_url(self) -> str:
        """``base_url`` for ``google-genai`` (``HttpOptions(base_url=...)``; the SDK adds ``/v1beta/models/...``)."""
        return self.url + "/"

    # ------------------------------------------------------------------ scripting
    def enqueue(self, *replies: Reply) -> None:
        """Queue replies; each request consumes the first queued reply matching its path."""
        with self._lock:
            self._script.extend(replies)

    def reply(self, **fields: Any) -> Reply:
        """Queue one successful reply (fields of :class:`Reply`) and return it."""
        reply = Reply(**fields)
        self.enqueue(reply)
        return reply

    def error(self, status: int = 500, message: str = "scripted error", *, retry_after: float | None = None,
              error_type: str | None = None, path: str | None = None, times: int = 1) -> None:
        """Queue ``times`` error replies with ``status`` (e.g. 400, 429, 500), in the envelope of the API called."""
        self.enqueue(*(Reply(status=status, error_message=message, retry_after=retry_after,
                             error_type=error_type, path=path) for _ in range(times)))

    def set_default(self, **fields: Any) -> None:
        """Change the reply sent when nothing is queued."""
        self._default = Reply(**fields)

    def reset(self) -> None:
        """Forget queued replies, the default reply and the request log."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
        self._default = Reply()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Requests whose path (without query) ends with ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0].endswith(path)]

    # ------------------------------------------------------------------ server side
    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            for i, reply in enumerate(self._script):
                if reply.path is None or path.endswith(reply.path):
                    del self._script[i]
                    return reply
        return self._default
