#!/usr/bin/env python3
"""Federate a set of running nodes: every ordered pair handshakes and is approved (full mesh).

For the soak cluster, after ``docker compose -f infra/docker-compose.soak.yml ... up -d``::

    python3 infra/soak/wire.py

For each ordered pair (X, Y) it runs, inside X's container, ``stigmem federation
register-peer --local-url <X> --remote-url <Y> --api-key <Y's admin key>`` (X signs its
declaration with its own key), then, inside Y's container, ``stigmem federation approve``
with the fingerprint of X's public key **as written in the env file** (the out-of-band
check: a node presenting any other key is not approved). Pairs already active are skipped,
so the script can be run again after a failure or a node replacement.

Options select another compose command (``--compose "podman-compose"``), env file or node
set. ``run_wiring`` is also used by ``make demo`` and the soak runner with nodes run as local
processes. Standard library only: it runs on the host's Python.
"""

# The host's Python may be old (macOS ships 3.9): no 3.10+ spellings outside annotations.
from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_COMPOSE_FILE = HERE.parent / "docker-compose.soak.yml"
DEFAULT_ENV_FILE = HERE / ".env"
SCOPES = "company,public"


class WiringError(Exception):
    """A handshake step failed; the message says which and what the node answered."""


@dataclass(frozen=True)
class WireNode:
    """A node as the wiring sees it: its name, the URL its peers use, its admin key and the
    public key it should present (``None``: trust the one the node advertises)."""

    name: str
    url: str
    admin_key: str
    pubkey: str | None = None


# run(node, stigmem_args) -> completed process (stdout/stderr as text)
Runner = Callable[[WireNode, list[str]], "subprocess.CompletedProcess[str]"]


def fingerprint(pubkey: str) -> str:
    """The approval fingerprint: SHA-256 of the key text as nodes advertise it (unpadded)."""
    return "sha256:" + hashlib.sha256(pubkey.strip().rstrip("=").encode()).hexdigest()


def _peers(run: Runner, node: WireNode) -> list[dict[str, object]]:
    done = run(node, ["peers", "list"])
    if done.returncode != 0:
        raise WiringError(f"{node.name}: stigmem peers list failed: {done.stderr.strip()}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _peer_row(run: Runner, registrar: WireNode, declarer: WireNode) -> dict[str, object] | None:
    rows = [row for row in _peers(run, registrar) if row.get("node_url") == declarer.url]
    return rows[0] if rows else None


def link(run: Runner, declarer: WireNode, registrar: WireNode, scopes: str = SCOPES) -> str:
    """Make ``declarer`` an active peer of ``registrar``; return what was done."""
    row = _peer_row(run, registrar, declarer)
    if row is None or row.get("status") in ("rejected", "revoked"):
        done = run(declarer, [
            "federation", "register-peer", "--local-url", declarer.url,
            "--remote-url", registrar.url, "--scopes", scopes, "--api-key", registrar.admin_key,
        ])  # fmt: skip
        if done.returncode != 0:
            raise WiringError(
                f"{declarer.name} -> {registrar.name}: register-peer failed:"
                f" {done.stdout.strip()} {done.stderr.strip()}"
            )
        row = _peer_row(run, registrar, declarer)
    if row is None:
        raise WiringError(f"{registrar.name} lists no peer at {declarer.url} after registering")
    if row.get("status") == "active":
        return "active"
    if row.get("status") != "pending_approval":
        raise WiringError(f"{registrar.name}: peer {declarer.name} is {row.get('status')}")
    expected = fingerprint(declarer.pubkey) if declarer.pubkey else row["pubkey_fingerprint"]
    done = run(registrar, [
        "federation", "approve", str(row["peer_id"]), "--fingerprint", str(expected),
    ])  # fmt: skip
    if done.returncode != 0:
        raise WiringError(
            f"{registrar.name}: approving {declarer.name} failed: {done.stderr.strip()}"
        )
    return "approved"


def run_wiring(
    nodes: Sequence[WireNode], run: Runner, *, log: Callable[[str], None] = print
) -> None:
    """Link every ordered pair of ``nodes``. Raises ``WiringError`` on the first failure."""
    for declarer in nodes:
        for registrar in nodes:
            if declarer is not registrar:
                outcome = link(run, declarer, registrar)
                log(f"{declarer.name} -> {registrar.name}: {outcome}")


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def compose_nodes(
    env: dict[str, str], names: Sequence[str], scheme: str = "http"
) -> list[WireNode]:
    nodes = []
    for name in names:
        prefix = f"NODE_{name.upper()}"
        try:
            nodes.append(WireNode(
                name=f"node-{name}", url=f"{scheme}://node-{name}:8765",
                admin_key=env[f"{prefix}_ADMIN_KEY"], pubkey=env[f"{prefix}_FEDERATION_PUBKEY"],
            ))  # fmt: skip
        except KeyError as exc:
            raise WiringError(
                f"the env file has no {exc.args[0]}; run infra/soak/keys.py"
            ) from None
    return nodes


def compose_runner(compose: list[str]) -> Runner:
    def run(node: WireNode, args: list[str]) -> subprocess.CompletedProcess[str]:
        command = [*compose, "exec", "-T", node.name, "stigmem", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)  # noqa: S603

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose", default="docker compose", help="compose command")
    parser.add_argument("--file", default=str(DEFAULT_COMPOSE_FILE), help="compose file")
    parser.add_argument("--env-file", default=str(DEFAULT_ENV_FILE), help="keys.py output")
    parser.add_argument("--nodes", default="a,b,c,d", help="node letters (comma list)")
    parser.add_argument(
        "--scheme",
        choices=("http", "https"),
        default="http",
        help="https with the mutual-TLS override (docker-compose.soak.mtls.yml)",
    )
    args = parser.parse_args(argv)
    env_file = Path(args.env_file)
    if not env_file.is_file():
        print(f"wire.py: no {env_file}; run: cd infra && python soak/keys.py > soak/.env",
              file=sys.stderr)  # fmt: skip
        return 2
    compose = [*shlex.split(args.compose), "-f", args.file, "--env-file", str(env_file)]
    try:
        nodes = compose_nodes(read_env_file(env_file), args.nodes.split(","), args.scheme)
        run_wiring(nodes, compose_runner(compose))
    except (WiringError, subprocess.TimeoutExpired) as exc:
        print(f"wire.py: {exc}", file=sys.stderr)
        return 1
    print(f"wire.py: {len(nodes)} nodes federated (full mesh)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
