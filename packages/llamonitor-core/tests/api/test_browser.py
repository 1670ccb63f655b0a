"""Headless Chromium against ``llamonitor serve`` over a real ``llamonitor demo`` run.

Checks the rendered DOM (totals, an open trace's waterfall, the agent graph) and saves a
screenshot under the test's output folder. Skipped only when ``/usr/bin/chromium`` is absent
(``.ci/services/chromium.sh`` installs it).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkits.serve import free_port, serve

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(not CHROMIUM.exists(),
                                 reason="/usr/bin/chromium is absent (bash .ci/services/chromium.sh installs it)")]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "llamonitor.cli.main", *args]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("browser")
    data = root / "data"
    demo = subprocess.run(_cli("demo", "--sessions", "6", "--dir", str(data), "--quiet"),
                          capture_output=True, text=True, timeout=180, check=False)
    assert demo.returncode == 0, demo.stderr
    with serve(root) as base:  # testkits.serve: starts `llamonitor serve --dir root/data`, waits for health
        yield base, root


def _chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--window-size=1400,1000", *extra, url],
        capture_output=True, text=True, timeout=120, check=False)


def test_dashboard_renders_totals_trace_and_graph(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _root = served
    with urllib.request.urlopen(base + "api/v1/metrics/summary") as resp:
        summary = json.load(resp)
    with urllib.request.urlopen(base + "api/v1/agents/graph") as resp:
        graph = json.load(resp)
    dom = _chromium(base, tmp_path / "profile-dom", "--dump-dom")
    html = dom.stdout
    assert 'data-ready="1"' in html, html[-2000:]
    total = re.search(r'id="card-total-events">([^<]*)<', html)
    assert total and total.group(1).replace(",", "") == str(summary["total_events"])
    sessions = re.search(r'id="card-sessions-count">([^<]*)<', html)
    assert sessions and sessions.group(1) == str(summary["sessions"])
    assert html.count('class="span"') >= 2  # a trace's waterfall is open
    assert html.count('class="node"') == len(graph["nodes"]) >= 3  # the agent graph
    assert html.count('class="edge"') == len(graph["edges"]) >= 2

    shot = tmp_path / "dashboard.png"
    _chromium(base, tmp_path / "profile-shot", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 1000)
    assert len(data) > 50_000  # a blank page is a few kB


LIVE_WRITER = """
import sys, time
import llamonitor
from llamonitor import monitor_llm
from llamonitor.schema.config import MonitorConfig, StorageConfig

llamonitor.initialize_monitoring_sync(MonitorConfig(
    storage=StorageConfig(backend="parquet", output_dir=sys.argv[1], flush_interval_seconds=0.1),
    spill_dir=sys.argv[2]))

@monitor_llm(operation_name="tail_mode_live_op")
def op(i):
    return i

end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    op(0)
    time.sleep(0.1)
llamonitor.shutdown_sync()
"""


def _watch_live(base: str, profile: Path, needle: str, seconds: float = 30.0) -> tuple[str, str]:
    """Open the dashboard in headless Chromium (real time, over the DevTools protocol) and read
    the live badge and panel until the panel shows ``needle`` or ``seconds`` pass."""
    import asyncio

    import websockets

    port = free_port()
    proc = subprocess.Popen([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def watch() -> tuple[str, str]:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as resp:
                    pages = [t for t in json.load(resp) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "chromium's DevTools endpoint did not come up"
            await asyncio.sleep(0.2)
        async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as cdp:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, **params: object) -> dict[str, object]:
                n = next(ids)
                await cdp.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    msg = json.loads(await cdp.recv())
                    if msg.get("id") == n:
                        return dict(msg.get("result") or {})

            async def text(element: str) -> str:
                result = await call("Runtime.evaluate", expression=f"(document.getElementById('{element}') "
                                    "|| {textContent: ''}).textContent", returnByValue=True)
                return str(dict(result["result"]).get("value") or "")  # type: ignore[arg-type]

            await call("Page.navigate", url=base)
            end = time.monotonic() + seconds
            badge = panel = ""
            while time.monotonic() < end:
                badge, panel = await text("live"), await text("live-events")
                if needle in panel:
                    break
                await asyncio.sleep(0.25)
            return badge, panel

    try:
        return asyncio.run(watch())
    finally:
        proc.terminate()
        proc.wait(30)


def test_live_panel_fills_from_a_writer_in_another_process(served: tuple[str, Path], tmp_path: Path) -> None:
    """``serve`` runs no writer: its badge says it tails Parquet and the live panel shows another
    process's events."""
    base, root = served
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(root / "data"), str(tmp_path / "spill"), "40"])
    try:
        badge, panel = _watch_live(base, tmp_path / "profile-live", "tail_mode_live_op")
        assert badge == "live: on (tailing Parquet)"
        assert "tail_mode_live_op" in panel
    finally:
        writer.terminate()
        writer.wait(30)


#: the network guard: every name but loopback fails to resolve, so a CDN asset cannot load
NO_NETWORK = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"


def test_docs_and_graphiql_render_without_network(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _root = served
    docs = _chromium(base + "docs", tmp_path / "profile-docs", NO_NETWORK, "--dump-dom").stdout
    assert "swagger-ui" in docs and "opblock" in docs and "/api/v1/events" in docs, docs[:2000]
    redoc = _chromium(base + "redoc", tmp_path / "profile-redoc", NO_NETWORK, "--dump-dom").stdout
    assert "/api/v1/events" in redoc, redoc[:2000]
    gql = _chromium(base + "graphql", tmp_path / "profile-gql", NO_NETWORK, "--dump-dom").stdout
    assert "graphiql-container" in gql and "Loading" not in gql.split("graphiql-container", 1)[1][:200], gql[:2000]
