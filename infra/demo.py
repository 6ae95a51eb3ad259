"""``make demo``: two nodes federate on this machine, in under a minute, then vanish.

Two ``stigmem-node`` processes start on 127.0.0.1 (temporary data directories), handshake
with the operator's commands (``stigmem federation register-peer`` on each side, then
``stigmem federation approve`` with the other's key fingerprint), a fact is asserted on A
and read back on B with its provenance, B's federation audit is printed, and both nodes are
stopped gracefully. Exit status 0 only if every step worked.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "soak"))

from cluster import LocalNode, NodeError, cli_runner
from wire import WiringError, run_wiring

DEADLINE_S = 30.0
FACT = {
    "entity": "stigmem://demo/project/atlas",
    "relation": "memory:status",
    "value": {"type": "string", "v": "shipping on Friday"},
    "source": "stigmem://demo/agent/planner",
    "scope": "company",
}
FAST = {
    "STIGMEM_FEDERATION_PULL_INTERVAL_S": "0.5",
    "STIGMEM_FEDERATION_BACKOFF_BASE_S": "0.2",
    "STIGMEM_FEDERATION_BACKOFF_MAX_S": "2",
    "STIGMEM_SQLITE_SYNCHRONOUS": "normal",
}


def say(text: str) -> None:
    print(text, flush=True)


def wait_for_fact(node: LocalNode, fact_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    with node.client() as http:
        while time.monotonic() < deadline:
            response = http.get(f"/v1/facts/{fact_id}")
            if response.status_code == 200:
                return dict(response.json())
            time.sleep(0.2)
    raise TimeoutError(f"{fact_id} did not reach {node.name} within {DEADLINE_S:.0f}s")


def demo(root: Path) -> None:
    a, b = LocalNode("node-a", root, env=FAST), LocalNode("node-b", root, env=FAST)
    nodes = [a, b]
    try:
        for node in nodes:
            node.start()
            say(f"started {node.name} at {node.url} (data: {node.data_dir})")
        say("handshake (register-peer both ways, approve by fingerprint):")
        run_wiring([n.wire_node() for n in nodes], cli_runner(nodes), log=lambda s: say(f"  {s}"))
        with a.client() as http:
            response = http.post("/v1/facts", json=FACT)
            response.raise_for_status()
            created = response.json()
        say(f"asserted on node-a: {created['id']} {FACT['entity']} {FACT['relation']}")
        copy = wait_for_fact(b, created["id"])
        say(f"seen on node-b: {copy['value']['v']!r} (cid {copy['cid']},"
            f" received_from {copy['received_from']})")  # fmt: skip
        if copy["cid"] != created["cid"]:
            raise RuntimeError("node-b holds other content under the same id")
        say("node-b federation audit (oldest first):")
        with b.client() as http:
            entries = http.get("/v1/federation/audit", params={"limit": 100}).json()["entries"]
        for entry in reversed(entries):
            detail = json.dumps(entry["detail"], separators=(",", ":"))
            say(f"  {entry['ts']}  {entry['event_type']:<16} {detail[:110]}")
    finally:
        for node in nodes:
            code = node.stop()
            say(f"stopped {node.name} (exit status {code})")
            if code != 0:
                raise NodeError(f"{node.name} did not shut down cleanly\n{node.tail()}")


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stigmem-demo-") as tmp:
        try:
            demo(Path(tmp))
        except (NodeError, WiringError, TimeoutError, RuntimeError) as exc:
            print(f"demo failed: {exc}", file=sys.stderr)
            return 1
    say(f"demo passed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
