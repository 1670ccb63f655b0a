"""Bounded fuzz of every GET route's parameters from the OpenAPI schema: no 500s, ever.

Plain Hypothesis: values of every type, hostile strings included, for each documented parameter.
``test_schemathesis.py`` is the schemathesis run (schema conformance, negative data, auth, GraphQL).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llamonitor.api import create_api_server
from llamonitor.schema.config import MonitorConfig, StorageConfig
from testkits.storage import make_events

from .conftest import store

VALUES = st.one_of(
    st.none(), st.text(max_size=30), st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True).map(str),
    st.sampled_from(["", "0", "-1", "true", "false", "2026-01-02", "2026-01-02T00:00:00Z", "9999-12-31T23:59:59",
                     "1:ev", "999999999999999999999:x", "model", "day", "d3", "session-1", "trace-1", "chat",
                     "%00", "' OR 1=1 --", "\u0000", "😀" * 5, "../../etc/passwd"]))


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import asyncio

    config = StorageConfig(backend="parquet", output_dir=str(tmp_path_factory.mktemp("fuzz") / "data"))
    asyncio.run(store(config, make_events(120)))
    with TestClient(create_api_server(MonitorConfig(storage=config)), raise_server_exceptions=False) as client:
        yield client


def _routes(client: TestClient) -> list[tuple[str, list[str], list[str]]]:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    out = []
    for path, ops in spec["paths"].items():
        params = ops["get"].get("parameters", [])
        out.append((path, [p["name"] for p in params if p["in"] == "query"],
                    [p["name"] for p in params if p["in"] == "path"]))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_route_answers_500(fuzz_client: TestClient, data: st.DataObject) -> None:
    path, query, path_params = data.draw(st.sampled_from(_routes(fuzz_client)))
    url = path
    for name in path_params:
        value = data.draw(st.text(min_size=1, max_size=20).filter(lambda s: s not in (".", "..")))
        url = url.replace("{" + name + "}", quote(value, safe=""))
    params = {name: value for name in query if (value := data.draw(VALUES)) is not None}
    resp = fuzz_client.get(url, params=params)
    assert resp.status_code < 500, (url, params, resp.text[:500])
