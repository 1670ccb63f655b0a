"""Session-wide network guard: a test that opens a non-loopback connection fails.

Every component is tested against real servers on loopback (docs/design.md, rule 5); nothing may
reach the internet. ``socket.socket.connect`` / ``connect_ex``, ``socket.create_connection``
and ``socket.getaddrinfo`` are patched once for the session; the check is a few string
comparisons, so loopback-heavy tests do not slow down. Unix sockets are allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""})


class NetworkAccessBlocked(RuntimeError):
    """Raised when a test tries to reach a non-loopback host."""


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.startswith("127.") or host == "::1" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified or (
        isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


def _check(address: Any) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):
        raise NetworkAccessBlocked(f"network access to {address[0]!r} blocked during tests (loopback only)")


_orig_connect = socket.socket.connect
_orig_connect_ex = socket.socket.connect_ex
_orig_create_connection = socket.create_connection
_orig_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family != getattr(socket, "AF_UNIX", None):
        _check(address)
    return _orig_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family != getattr(socket, "AF_UNIX", None):
        _check(address)
    return _orig_connect_ex(self, address)


def _guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
    _check(address)
    return _orig_create_connection(address, *args, **kwargs)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not _is_loopback(host):
        raise NetworkAccessBlocked(f"name resolution of {host!r} blocked during tests (loopback only)")
    return _orig_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "monitor_config(**fields): extra MonitorConfig fields for memory_monitoring")


@pytest.fixture(autouse=True, scope="session")
def _network_guard() -> Iterator[None]:
    patches = [(socket.socket, "connect", _guarded_connect), (socket.socket, "connect_ex", _guarded_connect_ex),
               (socket, "create_connection", _guarded_create_connection),
               (socket, "getaddrinfo", _guarded_getaddrinfo)]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, func in patches:
        setattr(owner, name, func)
    try:
        yield
    finally:
        for owner, name, func in originals:
            setattr(owner, name, func)
