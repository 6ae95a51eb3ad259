"""The node's container image, built and run for real when a container engine is available.

Skipped (with the reason) on machines without one, or without the Dockerfile's base image:
tests never pull from a registry. Containers use the host network and bind 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy import infra
from tests.deploy.engine import BASE_IMAGE, Engine, cleanup, find_engine, wait_healthy
from tests.process import NodeProcess, free_port

pytestmark = [pytest.mark.process, pytest.mark.xdist_group("container-image")]  # one build
wire = infra.load("wire")

ENGINE, WHY_NOT = find_engine()
if ENGINE is None:
    pytest.skip(WHY_NOT, allow_module_level=True)

FACT = {
    "entity": "stigmem://box/user/ada",
    "relation": "memory:role",
    "value": {"type": "string", "v": "operator"},
    "source": "stigmem://box/agent/test",
    "scope": "company",
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    assert ENGINE is not None
    return ENGINE


@pytest.fixture(scope="module")
def image(engine: Engine) -> Iterator[str]:
    tag = f"localhost/stigmem-node:test-{os.getpid()}"
    engine.build(tag)
    try:
        yield tag
    finally:
        engine("rmi", "-f", tag, check=False)


@pytest.fixture
def names(engine: Engine) -> Iterator[tuple[list[str], list[str]]]:
    """Containers and volumes a test creates, removed afterwards."""
    containers: list[str] = []
    volumes: list[str] = []
    try:
        yield containers, volumes
    finally:
        cleanup(engine, containers, volumes)


def inspect(engine: Engine, image: str) -> dict[str, Any]:
    return dict(json.loads(engine("image", "inspect", image).stdout)[0])


def test_image_configuration(engine: Engine, image: str) -> None:
    details = inspect(engine, image)
    config = details["Config"]
    assert config["User"] == "10001:10001"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["STIGMEM_DB_PATH"] == "/data/stigmem.db"
    assert env["STIGMEM_PORT"] == "8765"
    assert "/data" in config["Volumes"]
    assert "8765/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"] == ["stigmem-entrypoint"]
    # Docker keeps the healthcheck in Config, podman beside it.
    healthcheck = config.get("Healthcheck") or details["Healthcheck"]
    assert "/healthz" in " ".join(healthcheck["Test"])
    assert config["WorkingDir"] == "/data"


def test_no_secrets_or_stray_files_in_the_layers(engine: Engine, image: str) -> None:
    history = engine("history", "--no-trunc", image).stdout
    for word in ("BOOTSTRAP_KEY=", "PRIVKEY=", "ADMIN_KEY=", "PASSWORD"):
        assert word not in history
    script = (
        "find / -xdev \\( -name '*.db' -o -name admin.key -o -name .env -o -name tests"
        " -o -name .git \\) -not -path '/proc/*' -not -path '/usr/*'"
        " -not -path '*/site-packages/*' 2>/dev/null; ls -A /data; ls -d /src 2>/dev/null; true"
    )
    found = engine("run", "--rm", *engine.run_flags(), "--entrypoint", "sh", image, "-c", script)
    assert found.stdout.strip() == ""


def run_node(engine: Engine, image: str, name: str, volume: str, key: str) -> str:
    """Start a node container on a free loopback port (another, if that one was taken)."""
    for _attempt in range(3):
        port = free_port()
        engine(
            "run", "-d", "--name", name, *engine.run_flags(), "--read-only", "--tmpfs", "/tmp",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "-v", f"{volume}:/data",
            "-e", "STIGMEM_HOST=127.0.0.1", "-e", f"STIGMEM_PORT={port}",
            "-e", f"STIGMEM_NODE_URL=http://127.0.0.1:{port}",
            "-e", f"STIGMEM_BOOTSTRAP_KEY={key}",
            "-e", "STIGMEM_FEDERATION_ENABLED=true", "-e", "STIGMEM_FEDERATION_PULL_INTERVAL_S=0.5",
            "-e", "STIGMEM_FEDERATION_INSECURE=1",
            "-e", "STIGMEM_SQLITE_SYNCHRONOUS=normal",
            image,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        if wait_healthy(engine, name, url):
            return url
        logs = engine("logs", name, check=False)
        engine("rm", "-f", name, check=False)
        if "address already in use" not in logs.stdout + logs.stderr:
            raise AssertionError(f"{name} exited:\n{logs.stdout}\n{logs.stderr}")
    raise AssertionError(f"{name}: no free port after 3 attempts")


def wait_fact(url: str, key: str, fact_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = httpx.get(f"{url}/v1/facts/{fact_id}", headers={"Authorization": f"Bearer {key}"})
        if got.status_code == 200:
            return dict(got.json())
        time.sleep(0.3)
    raise AssertionError(f"{fact_id} never reached {url}")


def test_two_read_only_containers_federate_and_keep_their_data(
    engine: Engine, image: str, names: tuple[list[str], list[str]]
) -> None:
    containers, volumes = names
    tag = uuid.uuid4().hex[:8]
    nodes = []
    for side in ("a", "b"):
        name, volume, key = f"stg-{side}-{tag}", f"stg-{side}-{tag}", uuid.uuid4().hex * 2
        containers.append(name)
        volumes.append(volume)
        url = run_node(engine, image, name, volume, key)
        nodes.append((name, volume, url, key))
    (name_a, volume_a, url_a, key_a), (name_b, _, url_b, key_b) = nodes
    if engine.podman:  # the image's HEALTHCHECK, run on demand (no systemd timers here)
        assert engine("healthcheck", "run", name_a, check=False).returncode == 0
    assert httpx.get(f"{url_a}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url_a}/docs").status_code == 200
    # The operator's CLI inside the containers (read-only root) wires them.
    by_name = {name_a: name_a, name_b: name_b}

    def run(node: Any, args: list[str]) -> Any:
        return engine("exec", by_name[node.name], "stigmem", *args, check=False)

    wire.run_wiring([wire.WireNode(name_a, url_a, key_a), wire.WireNode(name_b, url_b, key_b)], run,
               log=lambda _: None)  # fmt: skip
    created = httpx.post(f"{url_a}/v1/facts", json=FACT,
                         headers={"Authorization": f"Bearer {key_a}"})  # fmt: skip
    assert created.status_code == 201, created.text
    copy = wait_fact(url_b, key_b, created.json()["id"])
    assert copy["cid"] == created.json()["cid"]
    # Backup and export work inside the container (they write only to /data).
    assert engine("exec", name_a, "stigmem", "backup", "/data/backup.db").returncode == 0
    exported = engine("exec", name_a, "stigmem", "export").stdout
    assert created.json()["id"] in exported
    # Graceful stop (exit 0), then a new container on the same volume sees the same data.
    engine("stop", "-t", "30", name_a)
    state = json.loads(engine("inspect", name_a).stdout)[0]["State"]
    assert state["ExitCode"] == 0
    engine("rm", "-f", name_a)
    url_a = run_node(engine, image, name_a, volume_a, key_a)
    again = httpx.get(f"{url_a}/v1/facts/{created.json()['id']}",
                      headers={"Authorization": f"Bearer {key_a}"})  # fmt: skip
    assert again.status_code == 200, again.text


def test_bare_metal_database_moves_into_a_volume(
    engine: Engine, image: str, names: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    """The operator guide's migration: copy data/stigmem.db into the volume, give it to the
    node's uid, start the container: the facts and the API keys are there."""
    containers, volumes = names
    with NodeProcess(tmp_path / "data", admin_key=None, minimal=True) as bare:
        key = bare.admin_key
        with bare.client() as http:
            fact_id = http.post("/v1/facts", json=FACT).json()["id"]
    db = tmp_path / "data" / "stigmem.db"
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM facts").fetchone()[0] >= 1
    tag = uuid.uuid4().hex[:8]
    volume, name = f"stg-mig-{tag}", f"stg-mig-{tag}"
    volumes.append(volume)
    containers.append(name)
    engine("volume", "create", volume)
    copy = ["run", "--rm", *engine.run_flags(), "--user", "0", "-v", f"{db}:/src/stigmem.db:ro",
            "-v", f"{volume}:/data", BASE_IMAGE]  # fmt: skip
    engine(*copy, "cp", "/src/stigmem.db", "/data/stigmem.db")
    # Root owns the copy: the node refuses with the fix instead of a database error.
    port = free_port()
    refused = engine("run", "--rm", *engine.run_flags(), "-v", f"{volume}:/data",
                     "-e", "STIGMEM_HOST=127.0.0.1", "-e", f"STIGMEM_PORT={port}", image,
                     check=False)  # fmt: skip
    assert refused.returncode == 78
    assert "chown -R 10001:10001 /data" in refused.stderr
    engine(*copy, "chown", "-R", "10001:10001", "/data")
    url = run_node(engine, image, name, volume, "unused-bootstrap-key-0123456789abcdef")
    got = httpx.get(f"{url}/v1/facts/{fact_id}", headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 200, got.text
