"""Operations routes: health, well-known, OpenAPI, metrics, offline docs, request logs."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ADMIN_KEY, NodeHarness, fact_body, start_node


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_well_known(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    body = (await client.get("/.well-known/stigmem", headers={"Authorization": ""})).json()
    assert body["version"] == "1.0"
    assert re.fullmatch(r"stigmem:node:[0-9a-f-]{36}", body["node_id"])
    assert body["node_url"] == "http://localhost:8765"
    assert body["auth"] == "required"
    assert body["federation"] == "disabled"
    assert body["source_attestation"] == "off"
    assert body["namespaces"] == [
        "stigmem:", "rel:", "memory:", "intent:", "roadmap:", "preference:", "garden:"
    ]  # fmt: skip
    assert body["spec"].startswith("http://localhost:8765")
    assert body["cors"] == {"dev_localhost": False, "configured": False}
    for federation_only in ("federation_pubkey", "federation_version", "federation_endpoints"):
        assert federation_only not in body


async def test_node_id_persists_across_restarts(tmp_path: Path) -> None:
    ids = []
    for _ in range(2):
        async for node in start_node(tmp_path):
            async with node.client(None) as c:
                ids.append((await c.get("/.well-known/stigmem")).json()["node_id"])
    assert ids[0] == ids[1]


async def test_openapi_describes_the_core_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json", headers={"Authorization": ""})).json()
    assert spec["openapi"].startswith("3.")
    core = [
        "/v1/facts",
        "/v1/facts/{fact_id}",
        "/v1/facts/batch",
        "/v1/conflicts",
        "/v1/conflicts/{conflict_id}/resolve",
        "/v1/auth/keys",
        "/v1/me",
        "/healthz",
    ]
    for path in core:
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/v1/facts"]


async def test_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.post("/v1/facts", json=fact_body())
    await client.get("/v1/facts")
    await client.get("/v1/facts")
    await client.get("/v1/facts/00000000-0000-4000-8000-000000000000")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'stigmem_http_requests_total{method="GET",route="/v1/facts",status="200"} 2.0' in text
    assert 'stigmem_http_requests_total{method="POST",route="/v1/facts",status="201"} 1.0' in text
    assert (
        'stigmem_http_requests_total{method="GET",route="/v1/facts/{fact_id}",status="404"} 1.0'
        in text
    )
    assert "stigmem_facts_written_total 1.0" in text
    assert 'stigmem_http_request_duration_seconds_count{route="/v1/facts"} 3.0' in text
    # Prometheus text format: every sample line is "name{labels} value".
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+", line), line


async def test_metrics_are_per_node(tmp_path: Path) -> None:
    counts = []
    for name in ("a", "b"):
        async for node in start_node(tmp_path / name):
            async with node.client() as c:
                await c.get("/v1/facts")
                counts.append(
                    (await c.get("/metrics")).text.count('route="/v1/facts",status="200"} 1.0')
                )
    assert counts == [1, 1]


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


async def test_docs_render_from_local_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = _Refs()
    parser.feed(response.text)
    assert len(parser.refs) >= 3  # stylesheet, icon, script
    for ref in parser.refs:
        parts = urlsplit(ref)
        assert not parts.scheme, ref
        assert not parts.netloc, ref  # no external host, not even protocol-relative
        asset = await client.get(ref, headers={"Authorization": ""})
        assert asset.status_code == 200, ref
        assert len(asset.content) > 100, ref
    assert not re.search(r"https?://", response.text)
    assert "'/openapi.json'" in response.text
    # Swagger UI would send the spec's URL to its public validator unless told not to.
    assert '"validatorUrl": null' in response.text


async def test_request_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.get("/v1/facts", params={"entity": "user:x"})
    await client.post("/v1/facts", json=fact_body())
    await client.get("/v1/facts", headers={"Authorization": "Bearer not-the-key-secret-value"})
    lines = [r.getMessage() for r in caplog.records if r.name == "stigmem.request"]
    assert re.fullmatch(r"GET /v1/facts 200 \d+\.\dms", lines[0]), lines
    assert re.fullmatch(r"POST /v1/facts 201 \d+\.\dms", lines[1]), lines
    assert re.fullmatch(r"GET /v1/facts 401 \d+\.\dms", lines[2]), lines
    assert ADMIN_KEY not in caplog.text
    assert "not-the-key-secret-value" not in caplog.text
