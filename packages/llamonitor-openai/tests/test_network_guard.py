"""The session-wide network guard (repo-root conftest.py) blocks non-loopback connections."""

from __future__ import annotations

import socket

import httpx
import pytest


def test_non_loopback_connect_is_blocked() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(RuntimeError, match="blocked"):
            s.connect(("93.184.216.34", 443))
        with pytest.raises(RuntimeError, match="blocked"):
            s.connect_ex(("10.1.2.3", 80))
    finally:
        s.close()
    with pytest.raises(RuntimeError, match="blocked"):
        socket.create_connection(("8.8.8.8", 53), timeout=0.1)
    with pytest.raises(RuntimeError, match="blocked"):
        socket.getaddrinfo("api.openai.com", 443)


def test_http_clients_cannot_reach_the_internet() -> None:
    with pytest.raises(Exception, match="blocked"):
        httpx.get("https://api.openai.com/v1/models", timeout=1)


def test_loopback_is_allowed(fake_provider: object) -> None:
    from llamonitor.testing.fake_provider import FakeProvider

    assert isinstance(fake_provider, FakeProvider)
    assert httpx.get(fake_provider.url + "/v1/models").status_code == 200
    assert socket.getaddrinfo("localhost", 80)
