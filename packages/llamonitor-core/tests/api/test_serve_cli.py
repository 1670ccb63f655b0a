"""``llamonitor serve`` as a process: tokens never reach uvicorn's access log; port / dir / backend
checked before binding; the banner only once the port is bound."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

TOKEN = "tok-Zq8xW3-never-logged"
pytestmark = pytest.mark.timeout(120)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "llamonitor.cli.main", *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_access_log_never_shows_the_token(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(_cli("serve", "--dir", str(tmp_path / "data"), "--port", str(port), "--token", TOKEN),
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "http://" not in log_path.read_text():
                time.sleep(0.2)
            assert _get(f"{base}/api/health?token={TOKEN}") == 200
            assert _get(f"{base}/static/app.js?token={TOKEN}&v=1") == 200
            assert _get(f"{base}/api/v1/events?limit=1&token={TOKEN}") == 200
            assert _get(f"{base}/api/health?token=wrong-guess") == 401
            assert _get(f"{base}/api/health", {"authorization": f"Bearer {TOKEN}"}) == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log_path.read_text()
    assert "GET /static/app.js?token=***&v=1" in text, text  # the access log is on, the secret is not
    assert TOKEN not in text and "wrong-guess" not in text, text


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "99999"], "--port"),
    (["--port", "-1"], "--port"),
    (["--backend", "mongo"], "--backend"),
    (["--dir", "/nonexistent/llamonitor"], "/nonexistent/llamonitor"),
])
def test_bad_options_are_refused_clearly(tmp_path: Path, args: list[str], message: str) -> None:
    if "--dir" not in args:
        args = [*args, "--dir", str(tmp_path)]
    run = subprocess.run(_cli("serve", *args), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert message in run.stderr and "Traceback" not in run.stderr and "pydantic" not in run.stderr, run.stderr
    assert "http://" not in run.stdout


def test_no_banner_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(_cli("serve", "--dir", str(tmp_path), "--port", str(port)), capture_output=True,
                             text=True, timeout=60, check=False)
    assert run.returncode != 0
    assert "http://" not in run.stdout, run.stdout
    assert f"port {port}" in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_a_public_bind_without_a_token_warns(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(_cli("serve", "--dir", str(tmp_path), "--host", "0.0.0.0", "--port", str(port)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _probe(port) is False:
            time.sleep(0.2)
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert "WARNING" in err and "without a token" in err, err


def _probe(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
