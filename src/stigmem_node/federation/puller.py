"""Pull replication: one task per active peer, each with at most one request in flight.

A peer's task drains the peer's pages while ``has_more`` (at most
``STIGMEM_FEDERATION_MAX_PAGES_PER_CYCLE`` per cycle), then sleeps the peer's advertised
``pull_interval_s`` or ours. Each page is checked and committed in one transaction together
with its cursor (``ingest``), so a crash never moves the cursor past facts we do not hold.
Failures back off exponentially with jitter (honouring ``Retry-After``) and the backoff is
persisted, so a restart does not hammer a failing peer. Tasks are independent: a slow, broken
or hostile peer delays nobody else (reference B1, B6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TypeAlias

from stigmem_node.federation import ingest, store, validate
from stigmem_node.federation.client import Page, PeerError
from stigmem_node.federation.context import FederationContext
from stigmem_node.federation.server import permitted_scopes
from stigmem_node.federation.store import PeerRow
from stigmem_node.federation.tokens import mint_peer_token

log = logging.getLogger("stigmem.federation.pull")

DIRECTION = "inbound"
# Pages committed per transaction while a backlog drains. Every commit rewrites (WAL, then
# checkpoint) the index pages its facts touched, and the CID index is touched all over: 8 full
# pages (4 000 facts) write ~0.95 GB for 100 000 facts where 4 pages write ~1.37 GB, for
# ~0.4-0.6 s per commit on the 2-core bench machine (ordinary writes queued behind one wait
# that long at most). 16 pages made commits of over a second for little more.
GROUP_PAGES = 8
Fetch: TypeAlias = "asyncio.Future[tuple[Page, str | None]]"
Group: TypeAlias = list[ingest.IngestBatch]  # consecutive pages, checked


def ingest_policy(
    ctx: FederationContext,
    peer: PeerRow,
    token_scopes: tuple[str, ...] | None = None,
    required_source: str | None = None,
) -> validate.IngestPolicy:
    """What ``peer`` may send: its declaration (and, on push, its token's scopes)."""
    settings = ctx.settings
    allowed = permitted_scopes(
        peer.allowed_scopes,
        peer.allowed_scopes if token_scopes is None else token_scopes,
        allow_team=settings.federation_allow_team,
    )
    return validate.IngestPolicy(
        sender=peer.node_id,
        local_node_id=ctx.node_id,
        permitted_scopes=allowed,
        declared_scopes=peer.allowed_scopes,
        now_ms=ctx.now_ms(),
        max_future_ms=settings.federation_hlc_max_future_skew_s * 1000,
        max_past_ms=settings.federation_hlc_max_past_skew_s * 1000,
        max_text_bytes=settings.max_text_bytes,
        system_source=ctx.write_ctx.system_source,
        required_source=required_source,
    )


def _checked(
    ctx: FederationContext,
    peer: PeerRow,
    facts: list[object],
    direction: str,
    cursor: str | None,
    policy: validate.IngestPolicy,
) -> ingest.IngestBatch:
    incoming, rejections = validate.check_page(list(facts), policy)
    return ingest.IngestBatch(
        peer.id, peer.node_id, ctx.node_id, direction, incoming, rejections, cursor
    )


def _count(ctx: FederationContext, direction: str, result: ingest.IngestResult) -> None:
    metrics = ctx.metrics
    metrics.ingested.labels(direction).inc(len(result.accepted))
    metrics.duplicates.labels(direction).inc(result.duplicates)
    for rejection in result.rejections:
        metrics.rejected.labels(rejection.reason).inc()


async def ingest_facts(
    ctx: FederationContext,
    peer: PeerRow,
    facts: list[object],
    direction: str,
    cursor: str | None,
    token_scopes: tuple[str, ...] | None = None,
    required_source: str | None = None,
) -> ingest.IngestResult:
    """Check and commit facts from ``peer`` (one transaction); count them in the metrics."""
    policy = ingest_policy(ctx, peer, token_scopes, required_source)
    batch = _checked(ctx, peer, facts, direction, cursor, policy)
    result = await ctx.db.write("federation_ingest", ingest.ingest_txn, ctx.write_ctx, batch)
    _count(ctx, direction, result)
    return result


def check_pulled(
    ctx: FederationContext, peer: PeerRow, facts: list[object], cursor: str | None
) -> ingest.IngestBatch:
    """One pulled page, checked fact by fact (pure: done as the page arrives, while the
    writer is busy with the pages before it)."""
    return _checked(ctx, peer, facts, "pull", cursor, ingest_policy(ctx, peer))


async def ingest_pages(
    ctx: FederationContext, peer: PeerRow, batches: list[ingest.IngestBatch]
) -> list[ingest.IngestResult]:
    """Commit consecutive checked pages of ``peer`` in one transaction
    (``ingest.ingest_pages_txn``); count them in the metrics."""
    results = await ctx.db.write(
        "federation_ingest", ingest.ingest_pages_txn, ctx.write_ctx, batches
    )
    for result in results:
        _count(ctx, "pull", result)
    return results


class PeerPuller:
    """The pull loop of one peer."""

    def __init__(self, ctx: FederationContext, peer_id: str, rng: random.Random) -> None:
        self.ctx = ctx
        self.peer_id = peer_id
        self.rng = rng

    async def run(self) -> None:
        ctx = self.ctx
        failures = await ctx.resume(self.peer_id, DIRECTION)
        while failures is not None and not ctx.stopping.is_set():
            peer = await ctx.db.read("federation_peer", store.get_peer_txn, self.peer_id)
            if peer is None or peer.status != "active":
                return
            info = await ctx.peer_info(peer)
            try:
                if await self.cycle(peer):
                    failures = 0
                    if not await ctx.pause(ctx.pull_interval(info)):
                        return
                continue
            except PeerError as exc:
                error, retry_after = str(exc), exc.retry_after
            except Exception as exc:  # a bug must not end replication from this peer
                log.exception("pull from %s failed", peer.node_id)
                error, retry_after = f"{type(exc).__name__}: {exc}", None
            failures += 1
            if not await ctx.back_off(peer.id, DIRECTION, failures, error, retry_after, self.rng):
                return

    async def cycle(self, peer: PeerRow) -> bool:
        """Pull pages until the peer has no more (or the per-cycle bound); True when drained.

        One request is in flight at a time, never more. Pages are committed in groups of up
        to ``GROUP_PAGES`` (one transaction each, see ``ingest.ingest_pages_txn``) and the
        next group is fetched while the current one is being written, so network, the
        peer's serving and our writes overlap. Raises ``PeerError`` on a failed request.
        """
        ctx = self.ctx
        state = await ctx.db.read("federation_state", store.get_state_txn, peer.id, DIRECTION)
        budget = ctx.settings.federation_max_pages_per_cycle
        fetching: Fetch = asyncio.ensure_future(self._fetch_page(peer, state.cursor))
        writing: asyncio.Future[bool] | None = None
        try:
            while True:
                group, more, fetching = await self._gather(peer, fetching, budget)
                budget -= len(group)
                if writing is not None and not await writing:
                    return True  # the peer was removed meanwhile: the loop ends on its next read
                writing = asyncio.ensure_future(self._write(peer, group))
                if not more or budget <= 0:
                    saved, writing = await writing, None
                    if saved and not more:
                        ctx.metrics.mark_drained(peer.node_id, ctx.clock.monotonic)
                    return not saved or not more
        finally:
            # A prefetched page that is not used is dropped, its failure included; a write
            # under way is waited for (it commits or fails as a whole either way).
            fetching.cancel()
            for task in (fetching, writing):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _gather(
        self, peer: PeerRow, fetching: Fetch, budget: int
    ) -> tuple[Group, bool, Fetch]:
        """Up to ``GROUP_PAGES`` (and ``budget``) pages, each checked as it arrives, whether
        the peer has more, and the fetch of the page after them (already started when it
        has)."""
        group: Group = []
        while True:
            page, asked = await fetching
            # "More" without a new cursor would ask for the same page forever.
            more = page.has_more and page.cursor is not None and page.cursor != asked
            if more:
                fetching = asyncio.ensure_future(self._fetch_page(peer, page.cursor))
            group.append(check_pulled(self.ctx, peer, list(page.facts), page.cursor or asked))
            if not more or len(group) >= min(GROUP_PAGES, budget):
                return group, more, fetching

    async def _write(self, peer: PeerRow, group: Group) -> bool:
        """Commit ``group``; False when its cursor could not be saved (peer removed)."""
        results = await ingest_pages(self.ctx, peer, group)
        return group[-1].cursor is None or results[-1].cursor_saved

    async def _fetch_page(self, peer: PeerRow, cursor: str | None) -> tuple[Page, str | None]:
        """One page and the cursor it was asked with. A cursor the peer does not recognise
        (``invalid_cursor``: its database was replaced) restarts from the beginning, which
        deduplication makes safe."""
        try:
            return await self._fetch(peer, cursor), cursor
        except PeerError as exc:
            if exc.status == 400 and _is_invalid_cursor(exc.body) and cursor is not None:
                log.warning("%s does not know our cursor; restarting from the start", peer.node_id)
                return await self._fetch(peer, None), None
            raise

    async def _fetch(self, peer: PeerRow, cursor: str | None) -> Page:
        ctx = self.ctx
        token = mint_peer_token(
            ctx.keys,
            iss=ctx.node_id,
            sub=peer.node_id,
            scopes=list(peer.allowed_scopes),
            now_ms=ctx.now_ms(),
        )
        size = ctx.settings.federation_page_size
        return await ctx.client.pull_page(
            peer.node_url, token, cursor, size, peer_node_id=peer.node_id
        )


def _is_invalid_cursor(body: object) -> bool:
    detail = body.get("detail") if isinstance(body, dict) else None
    return isinstance(detail, dict) and detail.get("code") == "invalid_cursor"
