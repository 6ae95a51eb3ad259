"""Bad input to the fact routes: a clear 4xx with a stable detail, and nothing written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.conftest import NodeHarness, fact_body, new_storage
from tests.facts.support import count_rows, json_headers, shared_node

# One node serves the whole module: every test checks that *it* wrote nothing.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(
    tmp_path_factory: pytest.TempPathFactory, engine: str, request: pytest.FixtureRequest
) -> AsyncIterator[NodeHarness]:
    storage = new_storage(engine, request)
    try:
        async for h in shared_node(tmp_path_factory.mktemp("bad-input"), storage):
            yield h
    finally:
        storage.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(harness: NodeHarness) -> AsyncIterator[httpx.AsyncClient]:
    async with harness.client() as c:
        yield c


_BASELINE: dict[str, tuple[int, int]] = {}


@pytest.fixture(autouse=True)
def _baseline(harness: NodeHarness) -> None:
    _BASELINE["counts"] = _snapshot(harness)


def _snapshot(harness: NodeHarness) -> tuple[int, int]:
    return count_rows(harness), count_rows(harness, "audit_log")


async def assert_nothing_written(harness: NodeHarness) -> None:
    assert _snapshot(harness) == _BASELINE["counts"]


async def post_raw(client: httpx.AsyncClient, text: str | bytes) -> httpx.Response:
    return await client.post("/v1/facts", content=text, headers=json_headers())


def error_types(response: httpx.Response) -> list[str]:
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return [e["type"] for e in detail]


@pytest.mark.parametrize("text", ["{", '{"entity": }', "", "nul", '{"a":1}{"b":2}'])
async def test_malformed_json(harness: NodeHarness, client: httpx.AsyncClient, text: str) -> None:
    response = await post_raw(client, text)
    assert response.status_code == 422
    assert error_types(response) == ["json_invalid"] or "missing" in error_types(response)
    await assert_nothing_written(harness)


async def test_invalid_utf8_body(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    response = await post_raw(client, b'{"entity":"\xff"}')
    assert 400 <= response.status_code < 500
    await assert_nothing_written(harness)


@pytest.mark.parametrize("body", [[], "x", 5, None])
async def test_body_not_an_object(
    harness: NodeHarness, client: httpx.AsyncClient, body: Any
) -> None:
    response = await post_raw(client, json.dumps(body))
    assert response.status_code == 422
    await assert_nothing_written(harness)


@pytest.mark.parametrize(
    "value",
    [
        {"type": "string", "v": 3},
        {"type": "string"},
        {"type": "text", "v": ["a"]},
        {"type": "number", "v": "42"},
        {"type": "number", "v": True},
        {"type": "number", "v": None},
        {"type": "number", "v": 10**30},
        {"type": "boolean", "v": "true"},
        {"type": "boolean", "v": 1},
        {"type": "datetime", "v": "tomorrow"},
        {"type": "datetime", "v": "9999-12-31T23:59:59-01:00"},
        {"type": "datetime", "v": 1700000000},
        {"type": "ref", "v": ""},
        {"type": "ref", "v": "not a uri"},
        {"type": "null", "v": "x"},
        {"type": "null", "v": False},
        {"type": "mystery", "v": "x"},
        {"type": "string", "v": "x", "interpret_as": "command"},
        {"v": "x"},
        "blue",
        None,
    ],
)
async def test_value_not_matching_its_type(
    harness: NodeHarness, client: httpx.AsyncClient, value: Any
) -> None:
    response = await client.post("/v1/facts", json=fact_body(value=value))
    assert response.status_code == 422, response.text
    assert all(e["loc"][:2] == ["body", "value"] for e in response.json()["detail"])
    await assert_nothing_written(harness)


@pytest.mark.parametrize("raw_v", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_finite_numbers(
    harness: NodeHarness, client: httpx.AsyncClient, raw_v: str
) -> None:
    text = (
        '{"entity":"user:a","relation":"r:x","source":"agent:b",'
        f'"value":{{"type":"number","v":{raw_v}}}}}'
    )
    response = await post_raw(client, text)
    assert response.status_code == 422
    await assert_nothing_written(harness)


@pytest.mark.parametrize("scope", ["private", "LOCAL", "", None, 1])
async def test_unknown_scope(harness: NodeHarness, client: httpx.AsyncClient, scope: Any) -> None:
    response = await client.post("/v1/facts", json=fact_body(scope=scope))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "scope"]
    await assert_nothing_written(harness)


@pytest.mark.parametrize("confidence", [-0.1, 1.0001, 2, True, False, "0.5", None, [0.5]])
async def test_bad_confidence(
    harness: NodeHarness, client: httpx.AsyncClient, confidence: Any
) -> None:
    response = await client.post("/v1/facts", json=fact_body(confidence=confidence))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "confidence"]
    await assert_nothing_written(harness)


@pytest.mark.parametrize("raw", ["NaN", "Infinity"])
async def test_non_finite_confidence(
    harness: NodeHarness, client: httpx.AsyncClient, raw: str
) -> None:
    body = json.dumps(fact_body())[:-1] + f', "confidence": {raw}}}'
    response = await post_raw(client, body)
    assert response.status_code == 422
    await assert_nothing_written(harness)


async def test_oversized_text_is_413(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    limit = harness.node.settings.max_text_bytes
    ok = await client.post(
        "/v1/facts",
        json=fact_body(entity="user:ok", value={"type": "text", "v": "é" * (limit // 2)}),
    )
    assert ok.status_code == 201
    for v in ("x" * (limit + 1), "é" * (limit // 2 + 1)):  # bytes, not characters
        response = await client.post("/v1/facts", json=fact_body(value={"type": "text", "v": v}))
        assert response.status_code == 413
        assert response.json()["detail"]["code"] == "value_too_large"
        assert response.json()["detail"]["limit"] == limit
    assert count_rows(harness) == _BASELINE["counts"][0] + 1


@pytest.mark.parametrize(
    "valid_until", ["tomorrow", "", "2026-13-01", "9999-12-31T23:59:59-01:00", 5]
)
async def test_unparseable_valid_until(
    harness: NodeHarness, client: httpx.AsyncClient, valid_until: Any
) -> None:
    response = await client.post("/v1/facts", json=fact_body(valid_until=valid_until))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "valid_until"]
    await assert_nothing_written(harness)


@pytest.mark.parametrize("after", ["yesterday", "2026-02-30", "", "9999-12-31T23:59:59-01:00"])
async def test_unparseable_after(client: httpx.AsyncClient, after: str) -> None:
    response = await client.get("/v1/facts", params={"after": after})
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "invalid_timestamp"


@pytest.mark.parametrize("field", ["entity", "relation", "source"])
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\udc00b"])
async def test_lone_surrogates_in_names(
    harness: NodeHarness, client: httpx.AsyncClient, field: str, escape: str
) -> None:
    body = json.dumps(fact_body(**{field: "PLACEHOLDER"})).replace("PLACEHOLDER", escape)
    response = await post_raw(client, body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    await assert_nothing_written(harness)


@pytest.mark.parametrize("value_type", ["string", "text", "ref"])
async def test_lone_surrogates_in_values(
    harness: NodeHarness, client: httpx.AsyncClient, value_type: str
) -> None:
    body = json.dumps(fact_body(value={"type": value_type, "v": "x:PLACEHOLDER"}))
    response = await post_raw(client, body.replace("PLACEHOLDER", "\\ud83d"))
    assert response.status_code == 422, response.text
    await assert_nothing_written(harness)


@pytest.mark.parametrize("field", ["entity", "relation", "source"])
async def test_empty_and_oversized_names(
    harness: NodeHarness, client: httpx.AsyncClient, field: str
) -> None:
    for value in ("", "x" * 2049, "a\x00b", None, 5):
        response = await client.post("/v1/facts", json=fact_body(**{field: value}))
        assert response.status_code == 422, (field, value)
        assert response.json()["detail"][0]["loc"] == ["body", field]
    await assert_nothing_written(harness)


@pytest.mark.parametrize("field", ["entity", "source"])
async def test_blank_entity_or_source_is_400(
    harness: NodeHarness, client: httpx.AsyncClient, field: str
) -> None:
    response = await client.post("/v1/facts", json=fact_body(**{field: "  \t "}))
    assert response.status_code == 400
    assert response.json() == {"detail": "invalid_entity_uri: entity URI must not be empty"}
    response = await client.post("/v1/facts", json=fact_body(**{field: "stigmem://host/ /x"}))
    assert response.status_code == 400
    assert response.json()["detail"].startswith(
        "invalid_entity_uri: produced empty component in formal URI:"
    )
    await assert_nothing_written(harness)


@pytest.mark.parametrize("missing", ["entity", "relation", "value", "source"])
async def test_missing_fields(
    harness: NodeHarness, client: httpx.AsyncClient, missing: str
) -> None:
    body = fact_body()
    del body[missing]
    response = await client.post("/v1/facts", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "missing"
    assert response.json()["detail"][0]["loc"] == ["body", missing]
    await assert_nothing_written(harness)


async def test_unknown_garden_is_404(harness: NodeHarness, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/facts", json=fact_body(garden_id="stigmem://localhost/garden/nope")
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "garden not found"}
    await assert_nothing_written(harness)


@pytest.mark.parametrize("derived_from", ["x", [1], {"hash": "x"}])
async def test_bad_derived_from(
    harness: NodeHarness, client: httpx.AsyncClient, derived_from: Any
) -> None:
    response = await client.post("/v1/facts", json=fact_body(derived_from=derived_from))
    assert response.status_code == 422
    await assert_nothing_written(harness)


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"min_confidence": "high"}, "min_confidence"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"min_confidence": -1}, "min_confidence"),
        ({"include_expired": "perhaps"}, "include_expired"),
        ({"include_contradicted": "2"}, "include_contradicted"),
    ],
)
async def test_bad_query_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], loc: str
) -> None:
    response = await client.get("/v1/facts", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", loc]
