"""The Compose overrides for mutual TLS: what they declare, and their documented commands
(the ``tls-ca`` and ``tls-node-*`` one-shot services, then ``up``) run as they would in the
containers, with the containers' paths mapped to directories, giving two nodes that federate
over mutual TLS (wired by the operator CLI, as ``infra/soak/wire.py`` does)."""

from __future__ import annotations

import ssl
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
from tests.tls.support import served_serial

wire = infra.load("wire")
MTLS = compose.REPO / "docker-compose.mtls.yml"
SOAK_MTLS = compose.REPO / "infra" / "docker-compose.soak.mtls.yml"
# What a local run sets itself (NodeProcess): database, bind address, port, URL, first key.
LOCAL = ("STIGMEM_DB_PATH", "STIGMEM_HOST", "STIGMEM_PORT", "STIGMEM_NODE_URL",
         "STIGMEM_BOOTSTRAP_KEY")  # fmt: skip


class EnvFile(dict[str, str]):
    """Every ``${VAR}`` the files read is set (to a placeholder): what the env file holds
    does not matter here."""

    def get(self, key: str, default: Any = None) -> str:  # type: ignore[override]
        return super().get(key) or f"<{key}>"


def node_env(
    base: Path, override: Path, service: str, variables: dict[str, str] | None = None
) -> dict[str, str]:
    """The service's environment with the override applied (as Compose merges maps)."""
    values = EnvFile() if variables is None else variables
    env = compose.service_env(compose.load(base), service, values)
    env.update(compose.service_env(compose.load(override), service, values))
    return env


@pytest.mark.parametrize(
    ("base", "override", "letters"),
    [(compose.COMPOSE, MTLS, "ab"), (compose.SOAK_COMPOSE, SOAK_MTLS, "abcd")],
    ids=["default", "soak"],
)
def test_the_override_declares_mutual_tls(base: Path, override: Path, letters: str) -> None:
    data = compose.load(override)
    assert data["services"]["tls-ca"]["entrypoint"][:3] == ["stigmem", "tls", "dev-ca"]
    assert data["services"]["tls-ca"]["volumes"] == ["tls-ca:/data"]
    base_services = compose.load(base)["services"]
    for letter in letters:
        name = f"node-{letter}"
        setup = data["services"][f"tls-{name}"]
        assert setup["profiles"] == ["tls-setup"]  # never started by `up`
        assert setup["entrypoint"][:3] == ["stigmem", "tls", "issue"]
        assert setup["volumes"] == ["tls-ca:/ca:ro", f"{name}-data:/data"]
        assert f"{name}-data:/data" in base_services[name]["volumes"]  # the node's own volume
        env = node_env(base, override, name)
        unknown = [
            n for n in env if n.removeprefix("STIGMEM_").lower() not in Settings.model_fields
        ]
        assert unknown == []
        assert env["STIGMEM_NODE_URL"] == f"https://{name}:8765"
        assert env["STIGMEM_TLS_CA_BUNDLE"] == "/data/tls/ca.crt"
        assert env["STIGMEM_FEDERATION_INSECURE"] == "false"
        assert env["STIGMEM_LOCAL_DEV_ALLOW_INSECURE_NON_LOOPBACK"] == "false"


def remap(value: str, mounts: dict[str, Path]) -> str:
    for target, source in mounts.items():
        if value == target or value.startswith(target + "/"):
            return str(source) + value[len(target) :]
    return value


def run_setup(service: dict[str, Any], mounts: dict[str, Path]) -> str:
    """Run a one-shot service's ``stigmem`` entrypoint with its volumes mapped to ``mounts``."""
    args = [remap(a, mounts) for a in service["entrypoint"][1:]]
    env = clean_environ() | {k: remap(str(v), mounts)
                             for k, v in (service.get("environment") or {}).items()}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", "from stigmem_node.cli import main; main()", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[NodeFactory]:
    nodes = NodeFactory(tmp_path / "nodes")
    try:
        yield nodes
    finally:
        nodes.close()


@pytest.mark.process
def test_the_documented_commands_give_federating_mtls_nodes(
    tmp_path: Path, factory: NodeFactory
) -> None:
    setup = compose.load(MTLS)["services"]
    ca_volume = tmp_path / "tls-ca"
    ca_volume.mkdir()
    run_setup(setup["tls-ca"], {"/data": ca_volume})
    verify = ssl.create_default_context(cafile=str(ca_volume / "ca.crt"))
    verify.check_hostname = False
    by_name: dict[str, Any] = {}
    wired = []
    for name in ("node-a", "node-b"):
        volume = factory.root / name  # the node's data directory: its /data
        volume.mkdir(parents=True)
        issued = run_setup(setup[f"tls-{name}"], {"/ca": ca_volume, "/data": volume})
        env = {
            k: remap(v, {"/data": volume})
            for k, v in node_env(compose.COMPOSE, MTLS, name, {}).items()
            if k not in LOCAL
        }
        proc = factory(name, env=env, https=verify)
        known = httpx.get(f"{proc.base_url}/.well-known/stigmem", verify=verify).json()
        assert f"for {known['node_id']}," in issued  # the certificate names the node's own id
        by_name[name] = (proc, env)
        wired.append(wire.WireNode(name, proc.base_url, proc.admin_key))
    wire.run_wiring(wired, cli_runner(by_name), log=lambda _: None)
    a, b = (by_name[n][0] for n in ("node-a", "node-b"))
    with a.client() as http:
        created = http.post("/v1/facts", json={
            "entity": "stigmem://compose/user/ada", "relation": "memory:role", "scope": "company",
            "value": {"type": "string", "v": "operator"}, "source": "stigmem://compose/agent/t",
        }).json()  # fmt: skip
    deadline = time.monotonic() + 60
    with b.client() as http:
        while (got := http.get(f"/v1/facts/{created['id']}")).status_code != 200:
            assert time.monotonic() < deadline, got.text
            time.sleep(0.2)
    assert got.json()["cid"] == created["cid"]

    # Renewal as documented (`run --rm tls-node-b --force`): used without a restart.
    before = served_serial(b.port, verify)
    run_setup({**setup["tls-node-b"], "entrypoint": [*setup["tls-node-b"]["entrypoint"],
               "--force"]}, {"/ca": ca_volume, "/data": factory.root / "node-b"})  # fmt: skip
    assert served_serial(b.port, verify) != before


def cli_runner(by_name: dict[str, Any]) -> Any:
    """``stigmem ...`` inside a node's "container": its environment and database."""

    def run(node: Any, args: list[str]) -> subprocess.CompletedProcess[str]:
        proc, env = by_name[node.name]
        full = {**clean_environ(), **env, "STIGMEM_DB_PATH": str(proc.db_path)}
        command = [sys.executable, "-c", "from stigmem_node.cli import main; main()", *args]
        return subprocess.run(command, env=full, capture_output=True, text=True, timeout=120,
                              check=False)  # fmt: skip

    return run
