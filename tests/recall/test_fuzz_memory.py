"""Schema-driven fuzzing of recall, graph, lint, decay and job routes: never a 5xx.

Schemathesis generates valid and invalid requests from the node's own OpenAPI document; every
4xx must carry a ``detail``. A node with a little memory (facts, a ref edge) answers them, so
the valid requests reach the scoring and traversal code, not only validation. Deterministic
and bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from starlette.testclient import TestClient

from stigmem_node.app import create_app
from tests.conftest import ADMIN_KEY, fact_body, make_settings

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
FUZZ = settings(
    derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
# (method, path, examples, whether random valid input usually succeeds: a random ``scope``
# string is a 400 for graph and lint, and no job exists to be found)
OPERATIONS = [
    ("POST", "/v1/recall", 60, True),
    ("GET", "/v1/graph/neighbors", 40, False),
    ("POST", "/v1/lint", 40, False),
    ("POST", "/v1/decay/sweep", 30, True),
    ("GET", "/v1/decay/jobs/{job_id}", 10, False),
    ("GET", "/v1/lint/jobs/{job_id}", 10, False),
]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    """A node with a little memory; schemathesis runs its lifespan (one app per operation)."""
    with TestClient(create_app(make_settings(tmp_path)), headers=AUTH) as seeder:
        for body in (
            fact_body(value={"type": "text", "v": "the atlas project ships in march"}),
            fact_body(relation="rel:owner", value={"type": "ref", "v": "user:bob"}),
            fact_body(entity="user:bob", relation="bare", scope="local"),
        ):
            assert seeder.post("/v1/facts", json=body).status_code == 201
    yield create_app(make_settings(tmp_path))
    shutdown_lifespans()


@pytest.mark.parametrize(("method", "path", "examples", "succeeds"), OPERATIONS)
def test_memory_routes_never_fail_the_server(
    app: FastAPI, method: str, path: str, examples: int, succeeds: bool
) -> None:
    operation = schemathesis.openapi.from_dict(app.openapi())[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    statuses: set[int] = set()

    @settings(FUZZ, max_examples=examples)
    @given(cases)
    def run(case: Any) -> None:
        response = case.call(app=app, headers=AUTH)
        statuses.add(response.status_code)
        if response.status_code == 501:  # as_of: CONTRACT §10 until time travel lands
            assert response.json()["detail"]["code"] == "time_travel_plugin_not_loaded"
            return
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert "detail" in response.json(), response.text

    run()
    assert any(400 <= s < 500 for s in statuses), statuses  # invalid requests were refused
    if succeeds:
        assert any(s < 300 for s in statuses), statuses  # and valid ones were answered
