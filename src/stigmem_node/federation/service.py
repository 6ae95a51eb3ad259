"""The federation feature of one node: identity, the routes' services and the loops.

``Federation.open`` settles the identity once the database is open; ``start`` (inside the
event loop) starts the supervisor, which keeps exactly one pull task (and, with push enabled,
one push task) per active peer. It reconciles whenever the peer set changes here and every
few seconds anyway, so approvals made by the CLI on the same database are picked up.
``stop`` signals every loop, cancels what is still waiting and closes the HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from stigmem_node.clock import Clock, format_ts
from stigmem_node.config import Settings
from stigmem_node.db import Database
from stigmem_node.facts.store import WriteContext
from stigmem_node.federation import store
from stigmem_node.federation.client import PeerClient
from stigmem_node.federation.context import FederationContext, FederationMetrics
from stigmem_node.federation.gate import Gate
from stigmem_node.federation.handshake import Handshake
from stigmem_node.federation.keys import (
    InvalidKey,
    NodeKeys,
    b64url_decode,
    keys_from_env,
    load_or_create_keys_txn,
)
from stigmem_node.federation.peer_auth import PeerAuthenticator
from stigmem_node.federation.puller import PeerPuller
from stigmem_node.federation.pusher import PeerPusher
from stigmem_node.federation.store import PeerRow
from stigmem_node.metrics import Metrics
from stigmem_node.tls.client import PeerTls

if TYPE_CHECKING:
    from stigmem_node.cluster.service import Leases

log = logging.getLogger("stigmem.federation")

FEDERATION_VERSION = "0.5"
RECONCILE_EVERY_S = 2.0
MAX_PAGE_BYTES = 64 * 1024 * 1024


class Federation:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        write_ctx: WriteContext,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.write_ctx = write_ctx
        self.metrics = FederationMetrics(metrics)
        self.node_id = ""
        self._keys: NodeKeys | None = None
        self._capability_keys: NodeKeys | None = None
        self._client: PeerClient | None = None
        self._ctx: FederationContext | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._changed = asyncio.Event()
        self._rng = random.Random()
        # Several processes on one database: set by the node, so each loop runs in one.
        self.leases: Leases | None = None
        self.handshake = Handshake(
            db, clock, self.client, lambda: self.node_id, settings.federation_declaration_max_age_s
        )
        self.gate = Gate(settings.federation_max_inflight_serves)
        self.peer_auth = PeerAuthenticator(
            db,
            clock,
            lambda: self.node_id,
            leeway_s=settings.peer_token_leeway_s,
            nonce_window_s=settings.federation_nonce_window_s,
        )

    # -- identity --------------------------------------------------------------------------
    def open(self, node_id: str) -> None:
        """Settle the identity (after the database opened). Raises ``keys.InvalidKey``."""
        self.node_id = node_id
        if self.settings.node_private_key:
            try:
                seed = b64url_decode(self.settings.node_private_key)
                self._capability_keys = NodeKeys.from_seed(seed)
            except ValueError:
                raise InvalidKey(
                    "STIGMEM_NODE_PRIVATE_KEY must be the base64url 32-byte Ed25519 seed"
                ) from None
        if self.settings.federation_enabled:
            self._keys = self.load_keys()

    def load_keys(self) -> NodeKeys:
        """The environment's pair, else the stored one (generated on first use)."""
        env = keys_from_env(self.settings.federation_pubkey, self.settings.federation_privkey)
        return env or self.db.write_sync(load_or_create_keys_txn)

    @property
    def keys(self) -> NodeKeys:
        if self._keys is None:
            self._keys = self.load_keys()
        return self._keys

    @property
    def capability_keys(self) -> NodeKeys:
        """The key signing capability tokens: ``STIGMEM_NODE_PRIVATE_KEY``, else ours."""
        if self._capability_keys is None:
            seed = self.settings.node_private_key
            self._capability_keys = NodeKeys.from_seed(b64url_decode(seed)) if seed else self.keys
        return self._capability_keys

    def well_known_fields(self) -> dict[str, Any]:
        push = "/v1/federation/facts/push" if self.settings.federation_push_enabled else None
        return {
            "federation_pubkey": self.keys.pubkey,
            "federation_version": FEDERATION_VERSION,
            "federation_endpoints": {
                "peers": "/v1/federation/peers",
                "facts": "/v1/federation/facts",
                "push": push,
            },
            "pull_interval_s": self.settings.federation_pull_interval_s,
        }

    def client(self) -> PeerClient:
        if self._client is None:
            self._client = PeerClient(
                timeout_s=self.settings.federation_request_timeout_s,
                max_page_bytes=MAX_PAGE_BYTES,
                tls=PeerTls.from_settings(self.settings, self.db, self.clock),  # mutual TLS
            )
        return self._client

    def context(self) -> FederationContext:
        """The shared context of loops and ingest (built on first use)."""
        if self._ctx is None:
            self._ctx = FederationContext(
                self.settings,
                self.db,
                self.clock,
                self.write_ctx,
                self.keys,
                self.node_id,
                self.client(),
                self.metrics,
            )
        return self._ctx

    def stale_hlc_before_ms(self) -> int:
        return self.context().stale_hlc_before_ms()

    async def audit_scope_violation(
        self, peer: PeerRow, scope: str, permitted: frozenset[str]
    ) -> None:
        detail = {"requested_scope": scope, "permitted": sorted(permitted)}
        await self.db.write(
            "federation_scope_violation",
            store.audit_txn,
            format_ts(self.clock.now()),
            "scope_violation",
            peer.id,
            detail,
        )

    async def audit_team_served(self, peer: PeerRow, count: int, cursor: str) -> None:
        detail = {"node_id": peer.node_id, "team_facts": count, "cursor": cursor}
        await self.db.write(
            "federation_team_served",
            store.audit_txn,
            format_ts(self.clock.now()),
            "team_facts_served",
            peer.id,
            detail,
        )

    # -- loops -----------------------------------------------------------------------------
    def peers_changed(self) -> None:
        """Reconcile the loops now (a peer was approved or removed here)."""
        self._changed.set()

    async def start(self) -> None:
        if not self.settings.federation_enabled or self._supervisor is not None:
            return
        self.context()
        self._supervisor = asyncio.create_task(self._supervise(), name="federation-supervisor")

    async def stop(self) -> None:
        if self._ctx is not None:
            self._ctx.stopping.set()
        self._changed.set()  # wake the supervisor
        # Loops waiting in a pause have already woken; one blocked on a slow peer is cancelled
        # rather than awaited (a page is committed with its cursor, so nothing is half-done;
        # writes already queued still run before the database closes).
        tasks = [t for t in (self._supervisor, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._supervisor = None
        self._tasks.clear()
        self._ctx = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _supervise(self) -> None:
        assert self._ctx is not None
        ctx = self._ctx
        while not ctx.stopping.is_set():
            try:
                await self._reconcile(ctx)
            except Exception:
                log.exception("federation supervisor: reconcile failed")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=RECONCILE_EVERY_S)

    async def _reconcile(self, ctx: FederationContext) -> None:
        active = await self.db.read("federation_active", store.list_peers_txn, "active")
        self.metrics.active_peers.set(len(active))
        wanted: dict[tuple[str, str], Callable[[], Coroutine[Any, Any, None]]] = {}
        for peer in active:
            wanted[(peer.id, "pull")] = PeerPuller(ctx, peer.id, self._rng).run
            if self.settings.federation_push_enabled:
                wanted[(peer.id, "push")] = PeerPusher(ctx, peer.id, self._rng).run
        for key, task in list(self._tasks.items()):
            if task.done():
                del self._tasks[key]
            elif key not in wanted:
                task.cancel()
                del self._tasks[key]
        for key, run in wanted.items():
            if key not in self._tasks:
                self._tasks[key] = asyncio.create_task(
                    self._exclusive(f"federation-{key[1]}:{key[0]}", run, ctx),
                    name=f"federation-{key[1]}-{key[0]}",
                )

    async def _exclusive(
        self, lease: str, run: Callable[[], Coroutine[Any, Any, None]], ctx: FederationContext
    ) -> None:
        """Processes sharing the database pull (push) a peer one at a time: the one holding
        the peer's lease runs the loop; the others wait to take over (``cluster``)."""
        if self.leases is None:
            await run()
        else:
            await self.leases.exclusive(lease, run, ctx.pause)
