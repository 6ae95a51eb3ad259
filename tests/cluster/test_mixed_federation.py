"""A SQLite node and a PostgreSQL node federate (pull both ways, push, a restart)."""

from __future__ import annotations

import pytest

from tests.federation.cluster import link, start, wait_for
from tests.process import NodeFactory

pytestmark = [pytest.mark.process, pytest.mark.postgres_only]


def test_a_sqlite_node_and_a_postgres_node_replicate_both_ways(node_factory: NodeFactory) -> None:
    lite = start(node_factory, "lite", STIGMEM_DATABASE_URL="")  # "": SQLite, its own file
    big = start(node_factory, "big", STIGMEM_FEDERATION_PUSH_ENABLED="true")
    assert lite.proc.environment()["STIGMEM_DATABASE_URL"] == ""
    assert big.proc.environment()["STIGMEM_DATABASE_URL"].startswith("postgresql://")
    link(lite, big)
    sent = {
        "lite": [lite.assert_fact(f"user:lite-{i}", "public")["id"] for i in range(20)],
        "big": [big.assert_fact(f"user:big-{i}", "company")["id"] for i in range(20)],
    }

    def has(node: object, prefix: str, ids: list[str]) -> bool:
        return all(node.fact_ids(f"user:{prefix}-{i}") == [ids[i]] for i in range(len(ids)))  # type: ignore[attr-defined]

    wait_for("PostgreSQL to hold the SQLite node's facts", lambda: has(big, "lite", sent["lite"]))
    wait_for("SQLite to hold the PostgreSQL node's facts", lambda: has(lite, "big", sent["big"]))
    big.proc.restart()  # the PostgreSQL node keeps its identity and cursors across a restart
    big.reconnect()
    later = big.assert_fact("user:after-restart", "public")["id"]
    wait_for("the fact written after the restart", lambda: lite.fact_ids("user:after-restart"))
    assert lite.fact_ids("user:after-restart") == [later]
    for node in (lite, big):
        node.http.close()
