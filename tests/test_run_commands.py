"""The operator's paths, for real: ``python -m stigmem_node`` and ``stigmem-node``.

Started as an operator would (only ``STIGMEM_DB_PATH`` and ``STIGMEM_PORT``, plus
``STIGMEM_HOST=127.0.0.1`` because tests never listen beyond loopback): the first start
writes ``admin.key`` (0600) beside the database, the key works over HTTP, a second start
reuses both, and SIGTERM ends the process with status 0 after in-flight requests complete.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.process import (
    LOOPBACK,
    NodeFactory,
    NodeProcess,
    clean_environ,
    module_command,
    script_command,
)

pytestmark = pytest.mark.process

REPO_ROOT = Path(__file__).resolve().parents[1]
ENTITY = "stigmem://ops/user/operator"
FACT: dict[str, Any] = {
    "entity": ENTITY,
    "relation": "memory:role",
    "value": {"type": "string", "v": "on-call"},
    "source": "stigmem://ops/agent/test",
    "scope": "company",
}
COMMANDS: dict[str, Callable[[], list[str]]] = {
    "python-m": module_command,
    "console-script": script_command,
}


def test_pyproject_declares_both_scripts() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    scripts = project["scripts"]
    assert scripts["stigmem-node"] == "stigmem_node.__main__:main"
    assert scripts["stigmem"] == "stigmem_node.cli:main"
    for target in scripts.values():
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), target


@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_first_start_writes_admin_key_then_restart_reuses_it(tmp_path: Path, command: str) -> None:
    node = NodeProcess(tmp_path, admin_key=None, minimal=True, command=COMMANDS[command]())
    key_file = node.db_path.parent / "admin.key"
    with node:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 32
        first_log = node.last_output()
        assert str(key_file) in first_log  # the path is logged ...
        assert key not in node.output()  # ... never the key
        with node.client(auth=False) as anonymous:
            assert anonymous.get("/v1/facts").status_code == 401
        with node.client() as http:
            created = http.post("/v1/facts", json=FACT)
            assert created.status_code == 201, created.text
            page = http.get("/v1/facts", params={"entity": ENTITY})
            assert page.status_code == 200, page.text
            assert [f["id"] for f in page.json()["facts"]] == [created.json()["id"]]
        before = key_file.stat()

        node.restart()  # stop (asserting status 0) and start on the same database

        after = key_file.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert key_file.read_text().strip() == key
        assert "admin key was written" not in node.last_output()
        with node.client() as http:
            fact = http.get(f"/v1/facts/{created.json()['id']}")
            assert fact.status_code == 200, fact.text
            assert fact.json()["value"] == FACT["value"] | {"interpret_as": "content"}
    assert node.proc is not None
    assert node.proc.returncode == 0


def test_invalid_setting_exits_2_with_one_line(tmp_path: Path) -> None:
    env = clean_environ() | {
        "STIGMEM_DB_PATH": str(tmp_path / "stigmem.db"),
        "STIGMEM_PORT": "not-a-port",
        "STIGMEM_HOST": LOOPBACK,
    }
    done = subprocess.run(
        [sys.executable, "-m", "stigmem_node"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("stigmem-node: invalid setting STIGMEM_PORT")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "stigmem.db").exists()


def test_sigterm_lets_in_flight_requests_complete(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path).start()
    try:
        body = json.dumps(FACT).encode()
        with _held_request(node, body) as conn:
            # The server is now inside the route, waiting for the body: the request is in flight.
            node.send_signal(signal.SIGTERM)
            _wait_for_output(node, "Shutting down")
            conn.sendall(body)
            status, reply = _read_response(conn)
        assert status == 201, reply
        fact_id = json.loads(reply)["id"]
        code = node.wait()
        node.check_clean_exit(code)
        assert _refused(node.port)  # it really is gone

        node.start()
        with node.client() as http:
            stored = http.get(f"/v1/facts/{fact_id}")
            assert stored.status_code == 200, stored.text  # the completed write is durable
    finally:
        if node.running:
            node.stop(check=False)


@contextlib.contextmanager
def _held_request(node: NodeProcess, body: bytes) -> Iterator[socket.socket]:
    """A POST whose headers are sent and whose body is withheld until the caller sends it.

    ``Expect: 100-continue`` makes the server say when the route starts reading the body,
    so "the request is in flight" is an observed event, not a guess.
    """
    head = (
        "POST /v1/facts HTTP/1.1\r\n"
        f"Host: {LOOPBACK}:{node.port}\r\n"
        f"Authorization: Bearer {node.admin_key}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    with socket.create_connection((LOOPBACK, node.port), timeout=15) as sock:
        sock.sendall(head.encode())
        interim = _read_until(sock, b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100"), interim
        yield sock


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed early; got {data!r}")
        data += chunk
    return data


def _read_response(sock: socket.socket) -> tuple[int, str]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    raw = _read_until(sock, b"\r\n\r\n")
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int({k.lower(): v for k, v in headers.items()}["content-length"])
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), rest[:length].decode()


def _wait_for_output(node: NodeProcess, text: str, timeout: float = 15.0) -> None:
    """Poll the node's captured output (short backoff) until ``text`` appears."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while text not in node.last_output():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never logged\n{node.output_tail()}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _refused(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[NodeFactory]:
    factory = NodeFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


def test_kill_9_keeps_acknowledged_writes_and_spares_other_nodes(nodes: NodeFactory) -> None:
    a = nodes("a", env={"STIGMEM_SQLITE_SYNCHRONOUS": "full"})
    b = nodes("b")
    assert a.port != b.port
    assert a.db_path != b.db_path
    with a.client() as http:
        created = http.post("/v1/facts", json=FACT)
        assert created.status_code == 201, created.text

    assert a.kill() == -signal.SIGKILL  # a crash: no shutdown code runs
    with b.client() as http:
        assert http.get("/healthz").status_code == 200  # the other node is untouched

    a.start()  # same database, same port
    with a.client() as http:
        stored = http.get(f"/v1/facts/{created.json()['id']}")
        assert stored.status_code == 200, stored.text
