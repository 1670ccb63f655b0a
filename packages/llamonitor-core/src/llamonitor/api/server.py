"""Running the API with uvicorn: bind first (a taken port is a clear error, not a banner then a
traceback), secrets masked in the access log, a loud warning for an exposed server without a token.

Tests: ``tests/api/test_serve_cli.py``.
"""

from __future__ import annotations

import gc
import logging
import socket
import sys
from collections.abc import Callable
from typing import Any

from llamonitor.api.security import install_log_redaction, is_loopback

logger = logging.getLogger("llamonitor")


#: uvicorn settings of the API server. No per-message deflate on WebSockets: every live message
#: would be compressed once per client (fifty clients, fifty compressions of each batch), which
#: cost more CPU than the whole REST load in ``bench/api_load.py``; the live feed is loopback or LAN
#: traffic of JSON that a reverse proxy can compress once if it must.
UVICORN_OPTIONS: dict[str, Any] = {"ws_per_message_deflate": False}
#: how long a worker process may take to answer its supervisor's health ping before it is killed and
#: replaced (uvicorn's default, 5 s, is shorter than a worker's start -- importing FastAPI, pyarrow
#: and the app -- on a busy 2-core machine: every worker was killed while starting, over and over)
WORKER_HEALTHCHECK_S = 60
#: GIL switch interval of the server process (Python's default is 0.005 s)
SWITCH_INTERVAL_S = 0.001


class BindError(OSError):
    """The address could not be bound; the message names host and port."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (IPv6 when ``host`` has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from exc
    sock.listen(2048)  # connections wait in the backlog while the app starts: the banner is true at once
    sock.set_inheritable(True)
    return sock


def exposure_warning(host: str, token: str | None) -> str | None:
    """The warning for binding a non-loopback address without a token, or ``None``."""
    if token or is_loopback(host):
        return None
    return (f"WARNING: llamonitor serve listens on {host} without a token: anyone who can reach this address "
            "reads every stored prompt and response. Set --token (or LLAMONITOR_API_TOKEN), or bind 127.0.0.1.")


def prepare_process() -> None:
    """Settings of a process that serves the API (the single server, or each worker)."""
    # The event loop serves every request and the live feed while query threads decode Parquet and
    # build answers: with the default 5 ms GIL switch interval a request waits up to 5 ms each time
    # a thread holds the GIL. This is the server's own process, so the setting is ours to make.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    install_log_redaction()


#: the cyclic collector's thresholds in a process that only serves (:func:`tune_gc`)
GC_THRESHOLDS = (20_000, 10, 10)


def tune_gc() -> None:
    """The garbage collector of a process that does nothing but serve, once its app is built.

    What is loaded by then (modules, the app) lives as long as the process: ``gc.freeze()`` takes
    it out of the cyclic collector's way, so its full collections under a high ingest rate do not
    walk it again and again; and young collections run every 20,000 allocations rather than 700
    (ingestion allocates a few dozen short-lived, acyclic objects per span). Together 15-20 % of
    the CPU per ingested span (``bench/otlp_ingest.py``, two workers: 62-65 -> 50-56 µs). Only
    for a process that is the server's own (``llamonitor serve`` and each of its workers): frozen
    objects are never collected, which an application's own objects may need to be.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(app: Any, host: str, port: int, *, token: str | None, log_level: str = "info",
          on_bound: Callable[[str, int], None] | None = None, workers: int = 1,
          own_process: bool = False) -> None:
    """Bind ``host``:``port`` (raises :class:`BindError`), call ``on_bound(host, actual_port)``, serve until
    interrupted.

    ``workers`` > 1: uvicorn's process manager starts that many worker processes sharing the bound
    socket (the kernel hands each new connection to one of them) and restarts one that dies. ``app``
    must then be a picklable factory (:class:`llamonitor.api.app.WorkerApp`): each worker builds its
    own app -- its own caches, query backend, storage tail and live hub. ``own_process``: the
    process serves and nothing else, its garbage collector is tuned (:func:`tune_gc`; in each
    worker, by the factory).
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    warning = exposure_warning(host, token)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    sock = bind(host, port)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        # factory=True: each worker calls ``app`` once to build its own (WorkerApp.__call__)
        config = uvicorn.Config(app, log_level=log_level, workers=workers, factory=True,
                                timeout_worker_healthcheck=WORKER_HEALTHCHECK_S, **UVICORN_OPTIONS)
        install_log_redaction()
        if on_bound is not None:
            on_bound(host, sock.getsockname()[1])
        Multiprocess(config, sockets=[sock]).run()
        return
    config = uvicorn.Config(app, log_level=log_level,  # configures uvicorn's loggers: filters go on after
                            **UVICORN_OPTIONS)
    prepare_process()
    if own_process:
        tune_gc()
    if on_bound is not None:
        on_bound(host, sock.getsockname()[1])
    uvicorn.Server(config).run(sockets=[sock])
