"""What the federation loops share: settings, storage, identity, the peer client, metrics,
what each peer advertises, and the stop signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

from stigmem_node.clock import Clock
from stigmem_node.config import Settings
from stigmem_node.db import Database
from stigmem_node.facts.store import WriteContext
from stigmem_node.federation.client import PeerClient, PeerError
from stigmem_node.federation.keys import NodeKeys
from stigmem_node.federation.store import PeerRow
from stigmem_node.metrics import Metrics

log = logging.getLogger("stigmem.federation")

INFO_TTL_S = 300.0
MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 3600.0


class FederationMetrics:
    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.ingested = Counter(
            "stigmem_federation_facts_ingested",
            "Facts accepted from peers, by direction.",
            ["direction"],
            registry=registry,
        )
        self.duplicates = Counter(
            "stigmem_federation_facts_duplicate",
            "Facts from peers already held, by direction.",
            ["direction"],
            registry=registry,
        )
        self.rejected = Counter(
            "stigmem_federation_facts_rejected",
            "Facts from peers rejected, by reason.",
            ["reason"],
            registry=registry,
        )
        self.served = Counter(
            "stigmem_federation_facts_served", "Facts served to pulling peers.", registry=registry
        )
        self.pushed = Counter(
            "stigmem_federation_facts_pushed", "Facts pushed to peers.", registry=registry
        )
        self.errors = Counter(
            "stigmem_federation_peer_errors",
            "Failed requests to peers, by direction.",
            ["direction"],
            registry=registry,
        )
        self.lag = Gauge(
            "stigmem_federation_replication_lag_seconds",
            "Seconds since the last complete pull from each peer.",
            ["peer"],
            registry=registry,
        )
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
    return PeerInfo(interval, push if isinstance(push, str) and push.startswith("/") else None)


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
            info = advertised(await self.client.fetch_well_known(peer.node_url))
        except PeerError as exc:
            log.info("well-known of %s unavailable: %s", peer.node_id, exc)
            info = cached[1] if cached is not None else PeerInfo()
        self._info[peer.id] = (self.clock.monotonic(), info)
        return info

    def stale_hlc_before_ms(self) -> int:
        """HLCs older than this are served as null: upstream pullers refuse them (B1a). One
        day inside upstream's past bound, so clock differences cannot matter."""
        past_ms = self.settings.federation_hlc_max_past_skew_s * 1000
        return self.now_ms() - max(past_ms - 86_400_000, past_ms // 2)

    def pull_interval(self, info: PeerInfo) -> float:
        """The peer's advertised interval when it gives one, else ours."""
        return info.pull_interval_s or self.settings.federation_pull_interval_s
