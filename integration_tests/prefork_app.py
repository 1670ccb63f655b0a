"""A small web app monitored the README way, for the gunicorn end-to-end test (imported by gunicorn).

With ``--preload`` the master imports this module, so ``initialize_monitoring`` runs in the
master before it forks the workers: exactly the shape in which forked workers used to lose every
event. ``LLAMONITOR_TEST_OUT`` names the output folder; each request records one event.
"""

from __future__ import annotations

import os
from typing import Any

import llamonitor
from llamonitor import MonitorConfig, StorageConfig, monitor_llm

OUT = os.environ["LLAMONITOR_TEST_OUT"]
PROMETHEUS_PORT = int(os.environ.get("LLAMONITOR_TEST_PROMETHEUS_PORT", "0"))

FLUSH = float(os.environ.get("LLAMONITOR_TEST_FLUSH", "30"))  # 30 s: written only when drained

config = MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=os.path.join(OUT, "data"),
                                             flush_interval_seconds=FLUSH),
                       spill_dir=os.path.join(OUT, "spill"))
if PROMETHEUS_PORT:
    config.extensions["prometheus"] = {"port": PROMETHEUS_PORT, "shared_dir": os.path.join(OUT, "prometheus")}
llamonitor.initialize_monitoring_sync(config)


@monitor_llm("answer", custom_attributes={"model": "gpt-4o-mini"})
def answer(question: str) -> str:
    return f"{question} answered by {os.getpid()}"


def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A WSGI app (gunicorn's sync and gthread workers)."""
    body = answer(environ.get("PATH_INFO", "/")).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app (uvicorn's gunicorn worker class)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = answer(scope["path"]).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
