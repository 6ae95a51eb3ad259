"""Retries, timeouts, unreachable nodes and bad answers, against real loopback servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from stigmem_node.client import (
    NO_RETRY,
    AsyncStigmemClient,
    ConnectionFailed,
    RateLimited,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    StigmemClient,
    Unavailable,
)
from stigmem_node.client.transport import retry_after_seconds
from tests.client.scripted import Reply, ScriptedServer, scripted, silent_listener
from tests.process import free_port

FACT = {
    "id": "f1",
    "entity": "user:a",
    "relation": "r:x",
    "value": {"type": "string", "v": "v", "interpret_as": "content"},
    "source": "agent:bot",
    "timestamp": "2026-01-01T00:00:00+00:00",
}
QUOTA = {"error": "quota_exceeded", "dimension": "fact_write", "retry_after": 1.5}


@contextmanager
def serving(*replies: Reply, **options: Any) -> Iterator[tuple[ScriptedServer, StigmemClient]]:
    """A scripted server and a sync client of it."""
    with scripted(*replies) as server, StigmemClient(server.url, **options) as client:
        yield server, client


def test_429_waits_retry_after_then_succeeds() -> None:
    sleeps: list[float] = []
    replies = [Reply(429, QUOTA, {"Retry-After": "2"}), Reply(201, FACT)]
    with serving(*replies, api_key="k" * 32, sleep=sleeps.append) as (server, client):
        fact = client.assert_fact("user:a", "r:x", "v", "agent:bot")
    assert fact.id == "f1"
    assert sleeps == [2.0]
    assert [r.path for r in server.received] == ["/v1/facts", "/v1/facts"]
    assert server.received[0].body == server.received[1].body
    assert json.loads(server.received[0].body)["value"] == {"type": "string", "v": "v"}
    assert server.received[0].headers["Authorization"] == "Bearer " + "k" * 32


def test_503_without_retry_after_backs_off_exponentially() -> None:
    sleeps: list[float] = []
    replies = [Reply(503, {"detail": "busy"}), Reply(503, {"detail": "busy"}), Reply(200, FACT)]
    policy = RetryPolicy(max_retries=3, backoff_s=0.5, max_backoff_s=8.0)
    with serving(*replies, retry=policy, sleep=sleeps.append) as (_, client):
        assert client.get_fact("f1").id == "f1"
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0


def test_retries_are_bounded_and_the_error_keeps_the_detail() -> None:
    sleeps: list[float] = []
    replies = [Reply(503, {"detail": "database busy"})] * 4
    policy = RetryPolicy(max_retries=3)
    with (
        serving(*replies, retry=policy, sleep=sleeps.append) as (server, client),
        pytest.raises(Unavailable) as err,
    ):
        client.get_fact("f1")
    assert len(server.received) == 4
    assert len(sleeps) == 3
    assert (err.value.status, err.value.detail) == (503, "database busy")


def test_too_long_retry_after_is_not_waited_for() -> None:
    sleeps: list[float] = []
    reply = Reply(429, QUOTA, {"Retry-After": "120"})
    with serving(reply, sleep=sleeps.append) as (server, client), pytest.raises(RateLimited) as err:
        client.assert_fact("user:a", "r:x", "v", "agent:bot")
    assert sleeps == []
    assert len(server.received) == 1
    assert err.value.retry_after == 120.0
    assert err.value.detail == "quota_exceeded"
    assert err.value.body == QUOTA


def test_other_errors_are_not_retried() -> None:
    reply = Reply(500, raw=b"Internal Server Error")
    with serving(reply) as (server, client), pytest.raises(ServerError) as err:
        client.get_fact("f1")
    assert len(server.received) == 1
    assert err.value.detail == "Internal Server Error"


def test_no_retry_policy_raises_at_once() -> None:
    reply = Reply(429, QUOTA, {"Retry-After": "1"})
    with serving(reply, retry=NO_RETRY) as (server, client), pytest.raises(RateLimited):
        client.get_fact("f1")
    assert len(server.received) == 1


async def test_async_client_retries_too() -> None:
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    with scripted(Reply(503, {"detail": "busy"}, {"Retry-After": "1"}), Reply(200, FACT)) as server:
        async with AsyncStigmemClient(server.url, sleep=record) as client:
            assert (await client.get_fact("f1")).id == "f1"
    assert sleeps == [1.0]


def test_retry_after_forms() -> None:
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 60.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0.0
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("-4") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("nan") is None
    assert retry_after_seconds(None) is None


def test_unreachable_node_is_connection_failed() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with StigmemClient(url) as client, pytest.raises(ConnectionFailed) as err:
        client.health()
    assert err.value.url == url
    assert str(err.value).startswith(f"cannot reach the Stigmem node at {url}: ")


def test_silent_node_times_out() -> None:
    with (
        silent_listener() as url,
        StigmemClient(url, timeout_s=0.3) as client,
        pytest.raises(ConnectionFailed) as err,
    ):
        client.health()
    assert "no answer within the timeout" in err.value.reason


async def test_async_unreachable_node_is_connection_failed() -> None:
    async with AsyncStigmemClient(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(ConnectionFailed):
            await client.health()


def test_success_with_a_wrong_shape_is_response_format_error() -> None:
    with serving(Reply(200, {"unexpected": True}), Reply(200, raw=b"<html>")) as (_, client):
        with pytest.raises(ResponseFormatError, match="GET /v1/facts/f1 answered 200"):
            client.get_fact("f1")
        with pytest.raises(ResponseFormatError):
            client.query_facts()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "localhost:8765"}, "must start with http:// or https://"),
        ({"url": "http://x", "timeout_s": 0}, "timeout_s must be a positive number"),
        ({"url": "http://x", "api_key": "abc\ndef"}, "the API key must be printable ASCII"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StigmemClient(**kwargs)  # type: ignore[arg-type]


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STIGMEM_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("STIGMEM_API_KEY", "env-key-0123456789abcdef0123456789")
    with StigmemClient.from_env() as client:
        assert client.config.url == "http://127.0.0.1:9"
        assert client.config.api_key == "env-key-0123456789abcdef0123456789"
