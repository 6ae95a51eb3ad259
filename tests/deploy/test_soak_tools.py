"""The soak cluster's tools: keys.py, wire.py, the fault proxy and the verdict logic."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stigmem_node.federation.keys import NodeKeys, keys_from_env
from tests.deploy import infra

keys = infra.load("keys")
wire = infra.load("wire")
report = infra.load("report")
ledger_mod = infra.load("ledger")
proxy_mod = infra.load("proxy")
procnet = infra.load("procnet")

KEYS_PY = infra.SOAK / "keys.py"
LINE = re.compile(r"^NODE_([A-D])_(FEDERATION_PRIVKEY|FEDERATION_PUBKEY|ADMIN_KEY)=(\S+)$")


def run_keys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(KEYS_PY), *args], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def parse(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = LINE.match(line)
        assert match, line
        values[f"NODE_{match[1]}_{match[2]}"] = match[3]
    return values


def test_keys_py_prints_every_node_s_lines_as_the_seed_snippet_encodes_them() -> None:
    done = run_keys()
    assert done.returncode == 0, done.stderr
    values = parse(done.stdout)
    assert len(values) == 12
    for node in "ABCD":
        seed_text = values[f"NODE_{node}_FEDERATION_PRIVKEY"]
        pub_text = values[f"NODE_{node}_FEDERATION_PUBKEY"]
        seed = base64.urlsafe_b64decode(seed_text)  # padded, like the seed's snippet
        assert len(seed_text) == 44
        assert seed_text.endswith("=")
        expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        assert base64.urlsafe_b64decode(pub_text) == expected
        # The node takes the pair as given (and advertises the key unpadded).
        pair = keys_from_env(pub_text, seed_text)
        assert pair is not None
        assert pair.pubkey == pub_text.rstrip("=")
        assert len(values[f"NODE_{node}_ADMIN_KEY"]) >= 32
    # Fresh keys every run.
    assert parse(run_keys().stdout) != values


def test_keys_py_output_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    assert run_keys("--nodes", "2", "--output", str(target)).returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(parse(target.read_text())) == 6
    again = run_keys("--output", str(target))
    assert again.returncode == 1
    assert "already exists" in again.stderr
    bad = run_keys("--nodes", "0")
    assert bad.returncode == 2
    assert "--nodes must be between 1 and 26" in bad.stderr


def test_pure_python_public_key_matches_cryptography() -> None:
    for _ in range(20):
        seed = secrets.token_bytes(32)
        expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        assert keys.public_key_pure(seed) == expected


def test_wire_fingerprint_is_the_node_s_and_padding_does_not_matter() -> None:
    pair = NodeKeys.generate()
    padded = pair.pubkey + "=" * (-len(pair.pubkey) % 4)
    assert wire.fingerprint(padded) == pair.fingerprint
    assert wire.fingerprint(pair.pubkey) == pair.fingerprint


def test_wire_reads_the_env_file_keys_py_writes(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    assert run_keys("--output", str(env_file)).returncode == 0
    nodes = wire.compose_nodes(wire.read_env_file(env_file), ["a", "b", "c", "d"])
    assert [n.url for n in nodes] == [f"http://node-{x}:8765" for x in "abcd"]
    assert all(n.pubkey and n.admin_key for n in nodes)
    tls = wire.compose_nodes(wire.read_env_file(env_file), ["a", "b"], "https")
    assert [n.url for n in tls] == ["https://node-a:8765", "https://node-b:8765"]
    with pytest.raises(wire.WiringError, match="NODE_E_ADMIN_KEY"):
        wire.compose_nodes(wire.read_env_file(env_file), ["e"])
    missing = subprocess.run(
        [sys.executable, str(infra.SOAK / "wire.py"), "--env-file", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "keys.py" in missing.stderr


# -- the verdict ---------------------------------------------------------------------------
def written(ledger: Any, fact_id: str, cid: str, kind: str = "item") -> None:
    ledger.written[fact_id] = ledger_mod.Written(fact_id, cid, "node-a", kind, {}, 0.0)


def export_of(
    facts: dict[str, str], retracted: set[str], conflicts: list[tuple[str, str]]
) -> bytes:

    lines = [{"type": "header"}]
    lines += [{"type": "row", "table": "facts",
               "row": {"id": i, "cid": c, "source": "stigmem://soak/agent/node-a"}}
              for i, c in facts.items()]  # fmt: skip
    lines += [
        {"type": "row", "table": "fact_retractions", "row": {"fact_id": f}} for f in retracted
    ]
    lines += [{"type": "row", "table": "conflicts", "row": {"fact_a_id": a, "fact_b_id": b}}
              for a, b in conflicts]  # fmt: skip
    lines.append({"type": "footer"})
    return b"\n".join(orjson.dumps(x) for x in lines)


def test_verdict_counts_lost_duplicated_altered_and_unapplied() -> None:
    ledger = ledger_mod.Ledger()
    for i in range(1, 6):
        written(ledger, f"f{i}", f"c{i}")
    ledger.retracted["f1"] = "f5"
    ledger.contested.append(("f2", "f3"))
    good = report.parse_export("a", export_of(
        {f"f{i}": f"c{i}" for i in range(1, 6)}, {"f1"}, [("f3", "f2")]))  # fmt: skip
    bad = report.parse_export("b", export_of(
        {"f1": "c1", "f2": "cX", "f3": "c3", "dup": "c3", "extra": "c9"}, set(), []))  # fmt: skip
    verdict = report.verify(ledger, [good, bad])
    assert verdict["per_node"]["a"] == {
        "facts": 5, "lost": 0, "altered": 0, "duplicates": 0, "unacknowledged": 0,
        "retractions_missing": 0, "conflicts_missing": 0,
    }  # fmt: skip
    assert verdict["per_node"]["b"] == {
        "facts": 5, "lost": 2, "altered": 1, "duplicates": 1, "unacknowledged": 2,
        "retractions_missing": 1, "conflicts_missing": 1,
    }  # fmt: skip
    ledger.lags.append(ledger_mod.Lag("node-a", "node-b", 0.0, 0.5))
    built = report.build({"nodes": 2, "minutes": 1}, ledger, [good, bad], {"a": 0, "b": 0}, {})
    assert not built["passed"]
    assert built["facts_lost"] == 2
    assert "soak: 2 passed, 5 failed" in report.render(built)
    clean = report.build({"nodes": 1, "minutes": 1}, ledger, [good], {"a": 0}, {"a": 0})
    assert clean["passed"]
    assert report.render(clean).endswith("soak: 7 passed, 0 failed")
    crashed = report.build({"nodes": 1, "minutes": 1}, ledger, [good], {"a": -9}, {"a": 1})
    assert crashed["errors"] == 2
    assert not crashed["passed"]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert report.percentile(values, 50) == 50.0
    assert report.percentile(values, 99) == 99.0
    assert report.percentile([], 50) is None


# -- the fault proxy -------------------------------------------------------------------------
async def test_proxy_forwards_cuts_and_blocks_one_process() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(100):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    target = server.sockets[0].getsockname()[1]
    from tests.process import free_port

    me = os.getpid()

    def owner(port: int, listen_port: int) -> int | None:
        return procnet.socket_owner(port, listen_port, [me])

    front = proxy_mod.FaultProxy(free_port(), target, owner)
    await front.start()

    async def roundtrip() -> bytes:
        """What comes back through the proxy (nothing when it refuses or cuts)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", front.listen_port)
        try:
            writer.write(b"ping")
            await writer.drain()
            return await asyncio.wait_for(reader.read(100), timeout=5)
        except (ConnectionResetError, BrokenPipeError):
            return b""
        finally:
            writer.close()

    try:
        assert await roundtrip() == b"ping"
        front.block(me)  # this test process is "the partitioned node"
        assert await roundtrip() == b""
        front.unblock(me)
        assert await roundtrip() == b"ping"
        front.set_mode("down")
        assert await roundtrip() == b""
        front.set_mode("slow", 0.01)
        assert await roundtrip() == b"ping"
    finally:
        await front.close()
        server.close()
        await server.wait_closed()
