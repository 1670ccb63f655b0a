"""A TCP proxy on loopback that a test can stop, slow down or sever, in front of a real server."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    """Forward ``127.0.0.1:port`` to ``target``.

    Modes: ``up`` (forward), ``down`` (sever every open connection and refuse new ones by
    closing them on accept), ``slow`` (forward, holding each chunk ``delay`` seconds; with
    ``drop_every=n``, every n-th chunk is not forwarded and its connection is severed instead,
    in the middle of whatever request or reply it belonged to). ``start()`` may come after
    clients already tried the port (nothing listening until then). Counters: ``accepted`` and
    ``refused`` connections, ``delayed`` chunks, ``dropped`` connections (cut by a drop).
    """

    def __init__(self, target_port: int, port: int | None = None, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.mode = "up"
        self.delay = 0.0
        self.drop_every = 0
        self.accepted = 0
        self.refused = 0
        self.delayed = 0
        self.dropped = 0
        self._chunks = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        server.settimeout(0.1)
        self._server = server
        self._spawn(self._accept_loop)
        return self

    def set_down(self) -> None:
        self.mode = "down"
        self._sever_all()

    def set_slow(self, delay: float, drop_every: int = 0) -> None:
        self.delay, self.drop_every, self.mode = delay, drop_every, "slow"

    def set_up(self) -> None:
        self.delay, self.drop_every, self.mode = 0.0, 0, "up"

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
        self._sever_all()
        for t in self._threads:
            t.join(5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------
    def _spawn(self, fn: object, *args: object) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def _sever_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == "down":
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self.accepted += 1
            with self._lock:
                self._pairs.append((client, upstream))
            self._spawn(self._pump, client, upstream)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self.mode == "slow":
                        with self._lock:
                            self._chunks += 1
                            drop = self.drop_every > 0 and self._chunks % self.drop_every == 0
                            if drop:
                                self.dropped += 1
                            else:
                                self.delayed += 1
                        if drop:
                            return  # the chunk is lost and both sides see the connection cut
                        time.sleep(self.delay)
                    if self.mode == "down":
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
