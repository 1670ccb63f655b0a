"""Schemathesis fuzz of the OpenAPI schema, in-process over real stored data: no 500s, ever.

The app is built over a Parquet store written through the real backend (``conftest.store``);
schemathesis loads ``/openapi.json`` from it (``schemathesis.openapi.from_asgi``) and, per
operation, sends a bounded, derandomized mix of valid and invalid requests through
``case.call_and_validate()``, which runs every built-in check: no server error, only documented
status codes and content types, bodies matching the documented schemas (the 400 / 404 / 422
error bodies included), invalid input refused with a 4xx, valid input accepted (2xx, or the
documented 400 / 404 for input that is well formed but meaningless: ``end`` before ``start``, a
made-up ``cursor``, an unknown id). Path ids are fuzzed and also drawn from the stored sessions
and traces, so the found-branch is fuzzed too. A second run against the app with a bearer token
checks that every operation answers 401 without it. GraphQL is fuzzed from its own schema.

(``schemathesis.pytest.from_fixture(...).parametrize()`` reads ``Node._nodeid``, which pytest 9
removed, so each operation's schemathesis strategy is driven with Hypothesis's ``@given`` here.)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llamonitor.api import create_api_server
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.schema.events import MetricEvent
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from .conftest import store

TOKEN = "fuzz-token"
#: bounded and reproducible: the same requests on every run (about 20 s for the whole file);
#: LLAMONITOR_FUZZ_EXAMPLES=500 LLAMONITOR_FUZZ_RANDOM=1 for a longer, randomized hunt
EXAMPLES = int(os.environ.get("LLAMONITOR_FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("LLAMONITOR_FUZZ_RANDOM"),
                database=None, suppress_health_check=list(HealthCheck))
#: schema-valid but meaningless input gets the documented 400 (bad range, made-up cursor) or 404
CONFIG = {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404"]}}}


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented REST operation (the schema does not depend on the data)."""
    app = create_api_server(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir="unused")))
    return [(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops
            if not path.startswith("/graphql")]  # Strawberry's routes: fuzzed with the GraphQL schema below


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def parquet_store(tmp_path_factory: pytest.TempPathFactory, stored_events: list[MetricEvent]) -> StorageConfig:
    """``stored_events`` on Parquet, written through the real backend."""
    config = StorageConfig(backend="parquet", output_dir=str(tmp_path_factory.mktemp("schemathesis") / "data"))
    asyncio.run(store(config, stored_events))
    return config


def _loaded(app: Any, loader: Any, path: str, **kwargs: Any) -> Iterator[Any]:
    yield loader(path, app, config=schemathesis.Config.from_dict(CONFIG), **kwargs)
    asgi.shutdown_lifespans()  # schemathesis keeps the app's lifespan running until told otherwise


@pytest.fixture(scope="module")
def api_schema(parquet_store: StorageConfig) -> Iterator[Any]:
    yield from _loaded(create_api_server(MonitorConfig(storage=parquet_store)), schemathesis.openapi.from_asgi,
                       "/openapi.json")


@pytest.fixture(scope="module")
def guarded_schema(parquet_store: StorageConfig) -> Iterator[Any]:
    app = create_api_server(MonitorConfig(storage=parquet_store), token=TOKEN)
    yield from _loaded(app, schemathesis.openapi.from_asgi, "/openapi.json",
                       headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture(scope="module")
def graphql_schema(parquet_store: StorageConfig) -> Iterator[Any]:
    yield from _loaded(create_api_server(MonitorConfig(storage=parquet_store)), schemathesis.graphql.from_asgi,
                       "/graphql")


@pytest.fixture(scope="module")
def fuzz_client(parquet_store: StorageConfig) -> Iterator[TestClient]:
    with TestClient(create_api_server(MonitorConfig(storage=parquet_store))) as client:
        yield client


def _mixed(operation: Any, known: dict[str, list[str]] | None = None) -> Any:
    """Valid and invalid requests; with ``known`` ids, also valid requests for stored sessions / traces."""
    strategy = (operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
                | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    names = [p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"]
    if known and names:
        ids = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
        strategy |= ids.flatmap(lambda values: operation.as_strategy(path_parameters=values))
    return strategy


def test_the_fuzz_covers_every_rest_operation(api_schema: Any) -> None:
    loaded = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert loaded - {("GET", "/graphql"), ("POST", "/graphql")} == set(OPERATIONS)
    assert len(OPERATIONS) == 15


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzz_operation(api_schema: Any, stored_events: list[MetricEvent], method: str, path: str) -> None:
    known = {"session_id": sorted({e.session_id for e in stored_events}),
             "trace_id": sorted({e.trace_id for e in stored_events})}

    @FUZZ
    @given(case=_mixed(api_schema[path][method], known))
    def run(case: Any) -> None:
        case.call_and_validate()

    run()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzz_operation_without_token_is_401(guarded_schema: Any, method: str, path: str) -> None:
    @settings(FUZZ, max_examples=max(10, EXAMPLES // 4))
    @given(case=_mixed(guarded_schema[path][method]))
    def run(case: Any) -> None:
        resp = case.call()
        assert resp.status_code == 401, (case.path, resp.status_code, resp.text[:300])

    run()


def test_fuzz_graphql(graphql_schema: Any) -> None:
    """Every query field with generated arguments: never a resolver crash (refusals are BAD_USER_INPUT)."""
    operations = [r.ok() for r in graphql_schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:
        @settings(FUZZ, max_examples=max(10, EXAMPLES // 2))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            resp = case.call()
            assert resp.status_code < 500, (case.body, resp.text[:500])
            case.validate_response(resp, checks=[not_a_server_error])

        run()


# -- regressions found by the fuzz run -----------------------------------------------------------
def test_a_bare_number_is_not_a_time(fuzz_client: TestClient) -> None:
    """``start=0.0`` used to be read as Unix seconds (200); the schema says ISO 8601 date-time."""
    for value in ("0.0", "1700000000", "-1", "1e9"):
        resp = fuzz_client.get("/api/v1/metrics/summary", params={"start": value})
        assert resp.status_code == 422, (value, resp.text)
        assert resp.json()["detail"].startswith("parameter 'start': "), resp.text
    resp = fuzz_client.get("/api/v1/events", params={"end": "2026-01-03T00:00:00Z", "start": "2026-01-02"})
    assert resp.status_code == 200, resp.text


def test_error_bodies_are_documented(fuzz_client: TestClient) -> None:
    """The 400 / 404 / 422 answers are in the OpenAPI schema, with the bodies actually sent."""
    spec = fuzz_client.get("/openapi.json").json()
    events = spec["paths"]["/api/v1/events"]["get"]["responses"]
    assert {"200", "400", "422"} <= set(events)
    assert "404" in spec["paths"]["/api/v1/sessions/{session_id}"]["get"]["responses"]
    invalid = spec["components"]["schemas"]["InvalidParameters"]
    assert invalid["properties"]["detail"]["type"] == "string"
    body = fuzz_client.get("/api/v1/events", params={"limit": 0}).json()
    assert set(body) == {"detail", "errors"} and isinstance(body["detail"], str)


def _gql_error(client: TestClient, query: str) -> dict[str, Any]:
    resp = client.post("/graphql", json={"query": query})
    assert resp.status_code == 200, resp.text
    errors: list[dict[str, Any]] = resp.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize(("query", "message"), [
    ('{ events(filter: { cursor: "\\"" }) { eventId } }', "filter.cursor: malformed cursor"),
    ("{ events(filter: { offset: -1 }) { eventId } }", "filter.offset must be >= 0"),
    ("{ events(filter: { limit: 0 }) { eventId } }", "filter.limit must be between 1 and"),
    ("{ sessions(limit: 0) { sessionId } }", "limit must be between 1 and"),
    ("{ sessions(offset: -3) { sessionId } }", "offset must be >= 0"),
])
def test_graphql_bad_arguments_are_user_errors(fuzz_client: TestClient, query: str, message: str) -> None:
    """A malformed cursor or paging argument used to escape the resolver as a bare ValueError."""
    error = _gql_error(fuzz_client, query)
    assert error["message"].startswith(message), error
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
