"""Push replication (``STIGMEM_FEDERATION_PUSH_ENABLED``): the low-latency path.

One task per active peer that advertises a push endpoint. It sends, in commit order, every
local fact that a pull by that peer would return (the same page query), and remembers the
last pushed ``facts.seq`` as the ``outbound`` cursor. A fresh outbound cursor starts at the
current end of the log: history is the pull path's job, and pull repairs anything a failed
push missed, so a push failure only backs off (persisted, with jitter) and never blocks.
"""

from __future__ import annotations

import logging
import random

from stigmem_node.clock import format_ts
from stigmem_node.db import Cursor
from stigmem_node.federation import server, store
from stigmem_node.federation.client import PeerError
from stigmem_node.federation.context import FederationContext
from stigmem_node.federation.store import PeerRow
from stigmem_node.federation.tokens import mint_peer_token

log = logging.getLogger("stigmem.federation.push")

DIRECTION = "outbound"
NO_PUSH_RECHECK_S = 60.0


def start_cursor_txn(cur: Cursor, peer_id: str, now: str) -> str:
    """The outbound cursor, created at the current end of the log if the peer has none.

    Approval calls this in its own transaction, so every fact committed after a peer became
    active is pushed to it, however late its push task starts.
    """
    state = store.get_state_txn(cur, peer_id, DIRECTION)
    if state.cursor is not None:
        return state.cursor
    top = cur.execute("SELECT MAX(seq) FROM facts").fetchone()[0]
    cursor = server.encode_cursor(int(top or 0))
    store.save_cursor_txn(cur, peer_id, DIRECTION, cursor, now)
    return cursor


class PeerPusher:
    def __init__(self, ctx: FederationContext, peer_id: str, rng: random.Random) -> None:
        self.ctx = ctx
        self.peer_id = peer_id
        self.rng = rng

    async def run(self) -> None:
        ctx = self.ctx
        failures = await ctx.resume(self.peer_id, DIRECTION)
        if failures is None:
            return
        cursor = await ctx.db.write(
            "federation_push_start", start_cursor_txn, self.peer_id, format_ts(ctx.clock.now())
        )
        while not ctx.stopping.is_set():
            peer = await ctx.db.read("federation_peer", store.get_peer_txn, self.peer_id)
            if peer is None or peer.status != "active":
                return
            info = await ctx.peer_info(peer)
            if info.push_path is None:  # not (or no longer) accepting pushes: look later
                if not await ctx.pause(NO_PUSH_RECHECK_S):
                    return
                await ctx.peer_info(peer, refresh=True)
                continue
            try:
                sent, cursor = await self.push_once(peer, cursor, info.push_path)
                failures = 0
                if not sent and not await ctx.pause(ctx.settings.federation_push_interval_s):
                    return
                continue
            except PeerError as exc:
                error, retry_after = str(exc), exc.retry_after
                if exc.status == 405:  # the peer turned push off
                    await ctx.peer_info(peer, refresh=True)
            except Exception as exc:
                log.exception("push to %s failed", peer.node_id)
                error, retry_after = f"{type(exc).__name__}: {exc}", None
            failures += 1
            if not await ctx.back_off(peer.id, DIRECTION, failures, error, retry_after, self.rng):
                return

    async def push_once(self, peer: PeerRow, cursor: str, path: str) -> tuple[int, str]:
        """Push the next batch after ``cursor``; (facts sent, new cursor). Raises PeerError."""
        ctx = self.ctx
        scopes = server.permitted_scopes(
            peer.allowed_scopes, peer.allowed_scopes, allow_team=ctx.settings.federation_allow_team
        )
        request = server.PageRequest(
            peer.node_id,
            scopes,
            server.decode_cursor(cursor),
            ctx.settings.federation_page_size,
            ctx.stale_hlc_before_ms(),
        )
        page = await ctx.db.read("federation_push_page", server.serve_page_txn, request)
        if page["facts"]:
            token = mint_peer_token(
                ctx.keys,
                iss=ctx.node_id,
                sub=peer.node_id,
                scopes=list(peer.allowed_scopes),
                now_ms=ctx.now_ms(),
            )
            await ctx.client.push(
                peer.node_url + path, token, page["facts"], peer_node_id=peer.node_id
            )
            ctx.metrics.pushed.inc(len(page["facts"]))
        if page["cursor"] != cursor:
            await ctx.db.write(
                "federation_push_cursor",
                store.save_cursor_txn,
                peer.id,
                DIRECTION,
                page["cursor"],
                format_ts(ctx.clock.now()),
            )
        return len(page["facts"]), page["cursor"]
