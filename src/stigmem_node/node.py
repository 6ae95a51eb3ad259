"""The Node: one running node's parts, built from settings, with an explicit lifecycle."""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from stigmem_node.audit.service import AuditService
from stigmem_node.auth.agent_keys import AgentKeyService
from stigmem_node.auth.attestation import Attestor
from stigmem_node.auth.oidc import OidcVerifier, oidc_config
from stigmem_node.auth.oidc_exchange import OidcExchange, parse_domains
from stigmem_node.auth.ratelimit import RateLimiter
from stigmem_node.auth.service import KeyService
from stigmem_node.clock import Clock, SystemClock
from stigmem_node.cluster.service import Leases
from stigmem_node.config import Settings
from stigmem_node.conflicts.service import ConflictService
from stigmem_node.db import Cursor, Database
from stigmem_node.decay.scheduler import DecayScheduler
from stigmem_node.decay.service import DecayDefaults, DecayService
from stigmem_node.facts.hlc import HybridClock
from stigmem_node.facts.service import FactService
from stigmem_node.facts.store import WriteContext, observe_newest_hlc_txn
from stigmem_node.federation.service import Federation
from stigmem_node.gardens.moderation import ModerationService
from stigmem_node.gardens.service import GardenService, node_authority
from stigmem_node.gardens.store import GardenCtx
from stigmem_node.graph.service import GraphService
from stigmem_node.jobs.service import JobService
from stigmem_node.lint.service import LintService
from stigmem_node.metrics import Metrics
from stigmem_node.recall.indexer import FullTextIndexer
from stigmem_node.recall.service import RecallService

log = logging.getLogger("stigmem.node")


class Background(Protocol):
    """A part of the node that runs tasks between ``start_background`` and ``stop_background``."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Node:
    """Holds the settings, database, clocks and feature services of one node."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.db = Database.from_settings(settings)
        self.hlc = HybridClock(lambda: int(self.clock.now().timestamp() * 1000))
        # Other processes may write to the same database: tick after what they committed.
        self.db.on_write_begin = lambda cur: observe_newest_hlc_txn(cur, self.hlc)
        # This process's presence, and the shared duties it holds (other processes may run).
        self.leases = Leases(self.db, self.clock, ttl_s=settings.lease_ttl_s)
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
        self._build_identity(settings)
        self._build_memory(settings)
        self.federation = Federation(settings, self.db, self.clock, self.write_ctx, self.metrics)
        self.federation.leases = self.leases
        self.background.append(self.federation)

    def _build_memory(self, settings: Settings) -> None:
        """Jobs, decay (and its periodic sweeps), lint, the graph and recall (issue 6)."""
        self.jobs = JobService(self.db, self.clock, owner=self.leases.instance)
        self.leases.on_tick.append(self.jobs.fail_orphans)
        self.decay = DecayService(
            self.db,
            self.clock,
            self.facts,
            self.jobs,
            DecayDefaults(
                settings.decay_ttl_seconds,
                settings.decay_min_confidence,
                settings.async_job_threshold,
            ),
        )
        self.decay_scheduler = DecayScheduler(
            self.decay,
            settings.decay_sweep_interval_s,
            gate=lambda: self.leases.hold("decay-sweep"),
        )
        self.lint = LintService(
            self.db, self.clock, self.facts, self.jobs, settings.async_job_threshold
        )
        self.graph = GraphService(self.db, self.clock, self.facts)
        self.fulltext = FullTextIndexer(
            self.db, chunk=settings.fulltext_chunk, delay_s=settings.fulltext_delay_s
        )
        self.recall = RecallService(self.db, self.facts, self.graph, self.fulltext)
        # Started after start() and stopped before stop(), in a running event loop.
        self.background: list[Background] = [
            self.leases, self.audit, self.jobs, self.decay_scheduler, self.fulltext,
        ]  # fmt: skip

    async def start_background(self) -> None:
        """Start the background services (jobs fail their orphans, the decay schedule)."""
        for service in self.background:
            await service.start()

    async def stop_background(self) -> None:
        """Stop them in reverse order, while the database is still open."""
        for service in reversed(self.background):
            await service.stop()

    def _build_identity(self, settings: Settings) -> None:
        """Audit log, agent keys and attestation, rate limits, the OIDC bridge (issue 3)."""
        self.audit = AuditService(
            self.db,
            self.clock,
            self.facts.view_for,
            retention_days=settings.audit_retention_days,
            coalesce_window_s=settings.audit_coalesce_window_s,
        )
        self.audit.prune_gate = lambda: self.leases.hold("audit-prune")
        self.agent_keys = AgentKeyService(self.db, self.clock, cache_s=settings.api_key_cache_s)
        self.attestor = Attestor(
            self.agent_keys, self.audit.security, required=settings.attestation_required
        )
        self.facts.attest = self.attestor
        self.ratelimit = RateLimiter(
            self.clock,
            write_per_hour=settings.rate_limit_write_per_hour,
            read_per_hour=settings.rate_limit_read_per_hour,
            admin_per_hour=settings.rate_limit_admin_per_hour,
            burst_s=settings.rate_limit_burst_s,
        )
        self.oidc = OidcExchange(
            self.db,
            self.clock,
            self.keys,
            self.audit.security,
            OidcVerifier(oidc_config(settings), self.clock) if settings.oidc_enabled else None,
            ttl_hours=settings.oidc_token_ttl_hours,
            max_age_days=settings.api_key_max_age_days,
            allowed_domains=parse_domains(settings.oidc_allowed_domains),
        )

    def start(self) -> None:
        """Open (and migrate) the database, settle identity, bootstrap the first key."""
        self.db.open()
        self.leases.open()
        self.node_id = self.settings.node_id or self.db.write_sync(_node_id_txn)
        self.audit.open()
        self.federation.open(self.node_id)
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
        self.audit.close()
        self.leases.close()
        self.db.close()


def _node_id_txn(cur: Cursor) -> str:
    row = cur.execute("SELECT value FROM node_meta WHERE key = 'node_id'").fetchone()
    if row:
        return str(row[0])
    node_id = f"stigmem:node:{uuid.uuid4()}"
    cur.execute("INSERT INTO node_meta (key, value) VALUES ('node_id', ?)", (node_id,))
    return node_id
