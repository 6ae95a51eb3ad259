"""What the federation loops share: settings, storage, identity, the peer client, metrics,
what each peer advertises, and the stop signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from stigmem_node.clock import Clock, format_ts
from stigmem_node.config import Settings
from stigmem_node.db import Database
from stigmem_node.facts.store import WriteContext
from stigmem_node.federation import store
from stigmem_node.federation.backoff import backoff_delay, retry_at, seconds_until
from stigmem_node.federation.client import PeerClient, PeerError
from stigmem_node.federation.keys import NodeKeys
from stigmem_node.federation.store import PeerRow
from stigmem_node.metrics import Metrics

log = logging.getLogger("stigmem.federation")

INFO_TTL_S = 300.0
MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 3600.0


class FederationMetrics:
    """Federation counters and gauges on the node's registry (``stigmem_federation_*``)."""

    def __init__(self, metrics: Metrics) -> None:
        reg = metrics.registry
        name = "stigmem_federation_"
        self.ingested = Counter(f"{name}facts_ingested", "Facts accepted from peers.",
                                ["direction"], registry=reg)  # fmt: skip
        self.duplicates = Counter(f"{name}facts_duplicate", "Facts from peers already held.",
                                  ["direction"], registry=reg)  # fmt: skip
        self.rejected = Counter(f"{name}facts_rejected", "Facts from peers rejected, by reason.",
                                ["reason"], registry=reg)  # fmt: skip
        self.served = Counter(f"{name}facts_served", "Facts served to pulling peers.",
                              registry=reg)  # fmt: skip
        self.pushed = Counter(f"{name}facts_pushed", "Facts pushed to peers.", registry=reg)
        self.errors = Counter(f"{name}peer_errors", "Failed requests to peers.", ["direction"],
                              registry=reg)  # fmt: skip
        self.lag = Gauge(f"{name}replication_lag_seconds",
                         "Seconds since the last complete pull from each peer.", ["peer"],
                         registry=reg)  # fmt: skip
        self.active_peers = Gauge(f"{name}active_peers", "Peers this node replicates with.",
                                  registry=reg)  # fmt: skip
        self._drained: dict[str, float] = {}

    def mark_drained(self, peer_node_id: str, monotonic: Callable[[], float]) -> None:
        """Record a complete pull; the lag gauge then reads the time since."""
        if peer_node_id not in self._drained:
            self.lag.labels(peer_node_id).set_function(
                lambda: monotonic() - self._drained.get(peer_node_id, monotonic())
            )
        self._drained[peer_node_id] = monotonic()


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What a peer's well-known document advertises that changes how we talk to it."""

    pull_interval_s: float | None = None
    push_path: str | None = None


def advertised(doc: dict[str, Any]) -> PeerInfo:
    raw = doc.get("pull_interval_s")
    interval: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        interval = min(max(float(raw), MIN_INTERVAL_S), MAX_INTERVAL_S)
    endpoints = doc.get("federation_endpoints")
    push = endpoints.get("push") if isinstance(endpoints, dict) else None
    if not isinstance(push, str) or not push.startswith("/") or interval is None:
        # Upstream's push route takes only facts whose source is the sending node (reference
        # §4): pushing ordinary facts there would just fill its audit with rejections. Nodes
        # that accept them (like this one) advertise ``pull_interval_s``; pull serves the rest.
        push = None
    return PeerInfo(interval, push)


@dataclass
class FederationContext:
    settings: Settings
    db: Database
    clock: Clock
    write_ctx: WriteContext
    keys: NodeKeys
    node_id: str
    client: PeerClient
    metrics: FederationMetrics
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _info: dict[str, tuple[float, PeerInfo]] = field(default_factory=dict)

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False when the node is stopping (wake at once)."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        else:
            await asyncio.sleep(0)
        return not self.stopping.is_set()

    async def peer_info(self, peer: PeerRow, *, refresh: bool = False) -> PeerInfo:
        """The peer's advertised settings, fetched at most every five minutes."""
        cached = self._info.get(peer.id)
        if cached is not None and not refresh and self.clock.monotonic() - cached[0] < INFO_TTL_S:
            return cached[1]
        try:
            doc = await self.client.fetch_well_known(peer.node_url, peer_node_id=peer.node_id)
            info = advertised(doc)
        except PeerError as exc:
            log.info("well-known of %s unavailable: %s", peer.node_id, exc)
            info = cached[1] if cached is not None else PeerInfo()
        self._info[peer.id] = (self.clock.monotonic(), info)
        return info

    async def back_off(
        self,
        peer_id: str,
        direction: str,
        failures: int,
        error: str,
        retry_after: float | None,
        rng: random.Random,
    ) -> bool:
        """Record the ``failures``-th failure in a row (persisted) and wait it out; False
        when the node is stopping."""
        settings = self.settings
        delay = backoff_delay(
            failures,
            base_s=settings.federation_backoff_base_s,
            max_s=settings.federation_backoff_max_s,
            retry_after=retry_after,
            rng=rng,
        )
        log.info("%s %s failed (%s); retry in %.1fs", direction, peer_id, error, delay)
        self.metrics.errors.labels(direction).inc()
        now = self.clock.now()
        await self.db.write(
            "federation_backoff",
            store.save_failure_txn,
            peer_id,
            direction,
            failures,
            retry_at(now, delay),
            error,
            format_ts(now),
        )
        return await self.pause(delay)

    async def resume(self, peer_id: str, direction: str) -> int | None:
        """Wait out a backoff persisted before a restart; the failure count so far, or None
        when the node is stopping."""
        state = await self.db.read("federation_state", store.get_state_txn, peer_id, direction)
        if not await self.pause(seconds_until(self.clock.now(), state.retry_at)):
            return None
        return state.failures

    def stale_hlc_before_ms(self) -> int:
        """HLCs older than this are served as null: upstream pullers refuse them (B1a). One
        day inside upstream's past bound, so clock differences cannot matter."""
        past_ms = self.settings.federation_hlc_max_past_skew_s * 1000
        return self.now_ms() - max(past_ms - 86_400_000, past_ms // 2)

    def pull_interval(self, info: PeerInfo) -> float:
        """The peer's advertised interval when it gives one, else ours."""
        return info.pull_interval_s or self.settings.federation_pull_interval_s
