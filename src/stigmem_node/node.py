"""The Node: one running node's parts, built from settings, with an explicit lifecycle."""

from __future__ import annotations

import logging
import uuid

from stigmem_node.auth.service import KeyService
from stigmem_node.clock import Clock, SystemClock
from stigmem_node.config import Settings
from stigmem_node.conflicts.service import ConflictService
from stigmem_node.db import Cursor, Database
from stigmem_node.facts.hlc import HybridClock
from stigmem_node.facts.service import FactService
from stigmem_node.facts.store import WriteContext
from stigmem_node.gardens.moderation import ModerationService
from stigmem_node.gardens.service import GardenService, node_authority
from stigmem_node.gardens.store import GardenCtx
from stigmem_node.metrics import Metrics

log = logging.getLogger("stigmem.node")


class Node:
    """Holds the settings, database, clocks and feature services of one node."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.db = Database(
            settings.db_path,
            synchronous=settings.sqlite_synchronous,
            batch_max=settings.write_batch_max,
            read_threads=settings.read_threads,
        )
        self.hlc = HybridClock(lambda: int(self.clock.now().timestamp() * 1000))
        self.write_ctx = WriteContext(clock=self.clock, hlc=self.hlc)
        self.keys = KeyService(
            self.db,
            self.clock,
            max_age_days=settings.api_key_max_age_days,
            cache_s=settings.api_key_cache_s,
        )
        self.facts = FactService(self.db, self.write_ctx, settings.max_text_bytes)
        self.conflicts = ConflictService(self.db, self.write_ctx, self.facts)
        self.gardens = GardenService(
            self.db, GardenCtx(self.write_ctx, node_authority(settings.node_url))
        )
        self.moderation = ModerationService(self.gardens)
        self.facts.garden_access = self.gardens.readable
        self.facts.garden_gate = self.gardens
        self.metrics = Metrics()
        self.node_id = ""

    def start(self) -> None:
        """Open (and migrate) the database, settle identity, bootstrap the first key."""
        self.db.open()
        self.node_id = self.settings.node_id or self.db.write_sync(_node_id_txn)
        if self.settings.auth_required:
            written = self.keys.bootstrap(self.settings.data_dir, self.settings.bootstrap_key)
            if written is not None:
                log.warning(
                    "no API key existed: an admin key was written to %s (mode 0600)", written
                )
            elif self.settings.bootstrap_key:
                log.info(
                    "bootstrap key from STIGMEM_BOOTSTRAP_KEY registered if the store was empty"
                )

    def stop(self) -> None:
        self.db.close()


def _node_id_txn(cur: Cursor) -> str:
    row = cur.execute("SELECT value FROM node_meta WHERE key = 'node_id'").fetchone()
    if row:
        return str(row[0])
    node_id = f"stigmem:node:{uuid.uuid4()}"
    cur.execute("INSERT INTO node_meta (key, value) VALUES ('node_id', ?)", (node_id,))
    return node_id
