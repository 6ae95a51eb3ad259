"""The Compose topologies: what the files declare, that every setting they pass is one the
node knows and accepts (the start-up gate included), that keys.py feeds the soak file, and
that node-a/node-b, run as processes with exactly the files' settings, federate."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stigmem_node.config import Settings
from tests.deploy import compose, infra
from tests.process import NodeFactory, clean_environ

wire = infra.load("wire")
KEYS_PY = infra.SOAK / "keys.py"
FACT = {
    "entity": "stigmem://compose/user/ada",
    "relation": "memory:role",
    "value": {"type": "string", "v": "operator"},
    "source": "stigmem://compose/agent/test",
    "scope": "company",
}


def env_file(tmp_path: Path, nodes: int) -> dict[str, str]:
    target = tmp_path / f"keys-{nodes}.env"
    command = [sys.executable, str(KEYS_PY), "--nodes", str(nodes), "--output", str(target)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return dict(wire.read_env_file(target))


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_default_topology_declares_what_the_guide_promises() -> None:
    data = compose.load(compose.COMPOSE)
    assert set(data["services"]) == {"node-a", "node-b"}
    assert data["services"]["node-a"]["ports"] == ["8765:8765"]
    assert data["services"]["node-b"]["ports"] == ["8766:8765"]
    assert data["volumes"] == {"node-a-data": {"name": "stigmem__node-a-data"},
                               "node-b-data": {"name": "stigmem__node-b-data"}}  # fmt: skip
    for name, service in data["services"].items():
        assert service["build"]["context"] == "."
        assert service["read_only"] is True
        assert "/tmp" in service["tmpfs"]
        assert service["volumes"] == [f"{name}-data:/data"]
        env = service["environment"]
        assert env["STIGMEM_FEDERATION_ENABLED"] == "true"
        assert float(env["STIGMEM_FEDERATION_PULL_INTERVAL_S"]) <= 10
        assert env["STIGMEM_BOOTSTRAP_KEY"] == f"${{NODE_{name[-1].upper()}_ADMIN_KEY:-}}"
        assert env["STIGMEM_NODE_URL"] == f"http://{name}:8765"
    assert (compose.REPO / "Dockerfile").is_file()


def test_soak_topology_is_a_four_node_mesh_fed_by_keys_py(tmp_path: Path) -> None:
    data = compose.load(compose.SOAK_COMPOSE)
    names = [f"node-{x}" for x in "abcd"]
    assert list(data["services"]) == names
    for i, name in enumerate(names):
        service = data["services"][name]
        assert service["ports"] == [f"{8765 + i}:8765"]
        assert service["build"]["context"] == ".."
        assert service["environment"]["STIGMEM_NODE_URL"] == f"http://{name}:8765"
    # The file reads exactly what keys.py prints, and refuses to start without it.
    variables = env_file(tmp_path, 4)
    assert compose.references(compose.SOAK_COMPOSE) == set(variables)
    with pytest.raises(compose.MissingVariable, match=r"keys\.py"):
        compose.service_env(data, "node-a", {})


@pytest.mark.parametrize(
    ("path", "with_keys"),
    [(compose.COMPOSE, False), (compose.COMPOSE, True), (compose.SOAK_COMPOSE, True)],
    ids=["default-one-click", "default-with-env-file", "soak"],
)
def test_every_setting_is_known_and_accepted(
    path: Path, with_keys: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-click default needs no env file; with one (or for the soak) its keys are used."""
    gate = pytest.importorskip("stigmem_node.tls.gate")  # the node's start-up gate
    data = compose.load(path)
    variables = env_file(tmp_path, len(data["services"])) if with_keys else {}
    for service in data["services"]:
        env = compose.service_env(data, service, variables)
        unknown = [
            n for n in env if n.removeprefix("STIGMEM_").lower() not in Settings.model_fields
        ]
        assert unknown == [], f"{path.name} {service}: not settings: {unknown}"
        with monkeypatch.context() as patch:
            settings = settings_from(env, patch)
        assert settings.federation_enabled
        gate.check_startup(settings)  # raises if the node would refuse to start


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[NodeFactory]:
    nodes = NodeFactory(tmp_path / "nodes")
    try:
        yield nodes
    finally:
        nodes.close()


LOCAL = ("STIGMEM_DB_PATH", "STIGMEM_HOST", "STIGMEM_PORT", "STIGMEM_NODE_URL",
         "STIGMEM_BOOTSTRAP_KEY", "STIGMEM_LOCAL_DEV_ALLOW_INSECURE_NON_LOOPBACK")  # fmt: skip


def cli_runner(by_name: dict[str, Any]) -> Any:
    def run(node: Any, args: list[str]) -> subprocess.CompletedProcess[str]:
        proc, env = by_name[node.name]
        full = {**clean_environ(), **env, "STIGMEM_DB_PATH": str(proc.db_path)}
        command = [sys.executable, "-c", "from stigmem_node.cli import main; main()", *args]
        return subprocess.run(command, env=full, capture_output=True, text=True, timeout=120,
                              check=False)  # fmt: skip

    return run


@pytest.mark.process
def test_node_a_and_node_b_with_the_file_s_settings_federate(
    tmp_path: Path, factory: NodeFactory
) -> None:
    """The default topology's settings, on loopback instead of the Compose network (the only
    changes: database path, bind address, port and the URL peers use)."""
    data = compose.load(compose.COMPOSE)
    variables = env_file(tmp_path, 2)
    by_name: dict[str, Any] = {}
    wired = []
    for service in ("node-a", "node-b"):
        env = compose.service_env(data, service, variables)
        letter = service[-1].upper()
        node_env = {k: v for k, v in env.items() if k not in LOCAL}
        proc = factory(service, env=node_env, admin_key=variables[f"NODE_{letter}_ADMIN_KEY"])
        with httpx.Client(base_url=proc.base_url) as anonymous:
            assert anonymous.get("/healthz").json() == {"status": "ok"}
            assert anonymous.get("/docs").status_code == 200
            known = anonymous.get("/.well-known/stigmem").json()
        assert known["federation"] == "enabled"
        pubkey = variables[f"NODE_{letter}_FEDERATION_PUBKEY"]
        assert known["federation_pubkey"] == pubkey.rstrip("=")  # the operator's own key
        by_name[service] = (proc, node_env)
        wired.append(wire.WireNode(service, proc.base_url, proc.admin_key, pubkey))
    wire.run_wiring(wired, cli_runner(by_name), log=lambda _: None)
    # Wiring is idempotent: a second run finds every pair active.
    outcomes: list[str] = []
    wire.run_wiring(wired, cli_runner(by_name), log=outcomes.append)
    assert all(line.endswith(": active") for line in outcomes), outcomes
    a, b = by_name["node-a"][0], by_name["node-b"][0]
    with a.client() as http:
        created = http.post("/v1/facts", json=FACT).json()
    deadline = time.monotonic() + 60
    with b.client() as http:
        while (got := http.get(f"/v1/facts/{created['id']}")).status_code != 200:
            assert time.monotonic() < deadline, got.text
            time.sleep(0.2)
    assert got.json()["cid"] == created["cid"]


@pytest.mark.process
def test_wiring_refuses_a_node_presenting_another_key(tmp_path: Path, factory: NodeFactory) -> None:
    """The fingerprint comes from the env file, not from the node: an impostor is not approved."""
    data = compose.load(compose.COMPOSE)
    variables = env_file(tmp_path, 2)
    by_name: dict[str, Any] = {}
    nodes = []
    for service in ("node-a", "node-b"):
        env = {k: v for k, v in compose.service_env(data, service, variables).items()
               if k not in LOCAL}  # fmt: skip
        proc = factory(service, env=env)
        by_name[service] = (proc, env)
        pubkey = variables[f"NODE_{service[-1].upper()}_FEDERATION_PUBKEY"]
        nodes.append(wire.WireNode(service, proc.base_url, proc.admin_key, pubkey))
    impostor = wire.WireNode("node-a", nodes[0].url, nodes[0].admin_key,
                             variables["NODE_B_FEDERATION_PUBKEY"])  # fmt: skip
    with pytest.raises(wire.WiringError, match="approving node-a failed"):
        wire.link(cli_runner(by_name), impostor, nodes[1])
    with by_name["node-b"][0].client() as http:
        [peer] = http.get("/v1/federation/peers").json()["peers"]
    assert peer["status"] == "pending_approval"
