"""The run mechanics against a recording HTTP server on loopback: seeds, setups, probes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conformance.runner import ConformanceRun, SetupFailed
from tests.conformance.vectors import Vector

KEY = "recording-admin-key-0123456789abcdefghij"


class Recorder(BaseHTTPRequestHandler):
    """Answers POST with 201 (or 500 for path /fail), everything else 200; records all."""

    seen: list[dict[str, Any]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "body": json.loads(body) if body else None,
            }
        )
        status = 500 if self.path == "/fail" else 201 if self.command == "POST" else 200
        payload = json.dumps({"n": len(self.seen)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


class RecordingNode:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"

    def client(self, *, auth: bool = True, timeout: float = 15.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {KEY}"} if auth else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def output_tail(self) -> str:
        return ""


@pytest.fixture
def recorder() -> Iterator[tuple[RecordingNode, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("H", (Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RecordingNode(server), seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


SEED = {"entity": "e", "relation": "r", "value": {"type": "null"}, "source": "s"}


def vec(index: int, vid: str, file: str = "v1.0/01.json", **data: Any) -> Vector:
    base: dict[str, Any] = {
        "id": vid,
        "method": "GET",
        "path": f"/v1/{vid}",
        "body": None,
        "expected_status": 200,
    }
    if "expected_status_in" in data:
        del base["expected_status"]
    seed = SEED if file == "v1.0/02_seeded.json" else None
    return Vector(file, index, base | data, seed, None)


VECTORS = [
    vec(0, "setup", method="POST", body={"x": True}, expected_status=201),
    vec(1, "query", file="v1.0/02_seeded.json", path="/v1/facts?entity=a%3A%2F%2Fb"),
    vec(2, "dependent", file="v1.0/02_seeded.json", requires_setup="setup"),
    vec(3, "probe", requires_auth=True, expected_status_in=[401, 403]),
    vec(4, "authed", requires_auth=True, expected_status_in=[200, 404]),
    vec(5, "broken", path="/fail", method="POST", body={}, expected_status=201),
    vec(6, "after-broken", requires_setup="broken"),
]


def test_seed_once_setup_reused_and_paths_sent_byte_for_byte(recorder: Any) -> None:
    node, seen = recorder
    run = ConformanceRun("auth-on", node, VECTORS, auth=True)
    try:
        for v in VECTORS[:3]:
            run.send(v)
        run.send(VECTORS[2])  # once sent, a vector is never sent again
    finally:
        run.close()
    assert [(r["method"], r["path"]) for r in seen] == [
        ("POST", "/v1/setup"),
        ("POST", "/v1/facts"),  # the file's seed_fact, before its first vector
        ("GET", "/v1/facts?entity=a%3A%2F%2Fb"),
        ("GET", "/v1/dependent"),
    ]
    assert seen[0]["body"] == {"x": True}
    assert seen[1]["body"] == SEED
    assert all(r["auth"] == f"Bearer {KEY}" for r in seen)


def test_a_deselected_setup_is_sent_on_demand(recorder: Any) -> None:
    node, seen = recorder
    run = ConformanceRun("auth-on", node, VECTORS, auth=True)
    try:
        run.send(VECTORS[2])
        run.send(VECTORS[0])  # reused, not resent
    finally:
        run.close()
    assert [r["path"] for r in seen] == ["/v1/facts", "/v1/setup", "/v1/dependent"]


def test_probes_go_without_credentials_and_auth_off_sends_none(recorder: Any) -> None:
    node, seen = recorder
    on = ConformanceRun("auth-on", node, VECTORS, auth=True)
    off = ConformanceRun("auth-off", node, VECTORS, auth=False)
    try:
        on.send(VECTORS[3])
        on.send(VECTORS[4])
        off.send(VECTORS[0])
    finally:
        on.close()
        off.close()
    assert [(r["path"], r["auth"]) for r in seen] == [
        ("/v1/probe", None),
        ("/v1/authed", f"Bearer {KEY}"),
        ("/v1/setup", None),
    ]


def test_a_failed_setup_fails_its_dependents(recorder: Any) -> None:
    node, seen = recorder
    run = ConformanceRun("auth-on", node, VECTORS, auth=True)
    try:
        with pytest.raises(SetupFailed, match="'broken' did not succeed"):
            run.send(VECTORS[6])
    finally:
        run.close()
    assert [r["path"] for r in seen] == ["/fail"]  # the dependent itself was never sent


def test_items_out_of_order_are_reported(recorder: Any) -> None:
    node, _ = recorder
    run = ConformanceRun("auth-on", node, VECTORS, auth=True)
    try:
        run.check_order(VECTORS[2])
        with pytest.raises(AssertionError, match="ran after a later vector"):
            run.check_order(VECTORS[1])
    finally:
        run.close()
