"""The client against a real node's rate limiter: a long Retry-After is reported, not slept."""

from __future__ import annotations

from pathlib import Path

import pytest

from stigmem_node.client import RateLimited, StigmemClient
from tests.process import NodeProcess

pytestmark = pytest.mark.process  # starts a real stigmem-node process


def test_quota_exhausted_is_rate_limited_with_retry_after(tmp_path: Path) -> None:
    env = {"STIGMEM_RATE_LIMIT_WRITE_PER_HOUR": "1", "STIGMEM_RATE_LIMIT_BURST_S": "1"}
    node = NodeProcess(tmp_path / "limited", env=env).start()
    sleeps: list[float] = []
    try:
        with StigmemClient(node.base_url, node.admin_key, sleep=sleeps.append) as memory:
            memory.assert_fact("user:rl", "r:a", "v", "agent:bot")
            with pytest.raises(RateLimited) as err:
                memory.assert_fact("user:rl", "r:b", "v", "agent:bot")
            assert [f.relation for f in memory.iter_facts(entity="user:rl")] == ["r:a"]
    finally:
        node.stop(check=False)
    assert err.value.status == 429
    assert err.value.detail == "quota_exceeded"
    assert err.value.retry_after is not None
    assert err.value.retry_after > 30  # one token per hour: far beyond the client's bound
    assert sleeps == []
