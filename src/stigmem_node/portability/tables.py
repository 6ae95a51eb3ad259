"""Which tables an export carries, how a row is identified, and why the others stay home."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Table:
    """An exported table: ``key`` identifies a row (idempotent import); rows are exported in
    ``sequence`` order (the local commit order) where the table has one, else by key;
    ``local`` are columns that belong to one store."""

    name: str
    key: tuple[str, ...]
    sequence: str | None = None
    local: tuple[str, ...] = ()

    @property
    def order(self) -> str:
        return self.sequence or ", ".join(self.key)


# Dependency order: a row is imported after every row it refers to.
EXPORTED: tuple[Table, ...] = (
    Table("agent_keys", ("id",)),
    Table("gardens", ("id",)),
    Table("garden_members", ("garden_id", "entity_uri")),
    # ``seq`` is the local commit sequence (keyset pages, federation cursor): reassigned.
    Table("facts", ("id",), sequence="seq", local=("seq",)),
    Table("fact_retractions", ("fact_id",)),
    Table("fact_validity_overrides", ("fact_id",)),
    Table("conflicts", ("id",), sequence="seq", local=("seq",)),
    Table("fact_quarantine", ("fact_id",)),
)

BY_NAME = {table.name: table for table in EXPORTED}

# Every other table of the schema, with the reason it is not exported. A test checks that
# each table of a migrated database is listed in exactly one of the two places.
EXCLUDED: dict[str, str] = {
    "schema_migrations": "the schema's own history (the importing node migrates itself)",
    "sqlite_sequence": "SQLite's AUTOINCREMENT counters",
    "node_meta": "the node's identity and federation private key (never leaves the node)",
    "api_keys": "credentials of this node's callers",
    "audit_log": "this node's accountability record (stigmem backup keeps it)",
    "audit_prune_window": "transient state of an audit prune",
    "batch_requests": "short-lived batch idempotency replies",
    "jobs": "decay and lint runs of this node",
    "peers": "federation peers of this node's identity",
    "replication_cursors": "replication positions of this node's peers",
    "nonce_cache": "peer-token replay cache of this node",
    "federation_audit": "this node's federation record (stigmem backup keeps it)",
    "federation_manifests": "organisation manifests this node accepted",
    "manifest_history": "upload history of those manifests",
    "capability_tokens": "capability tokens this node issued",
    "leases": "which process of this deployment runs which background duty",
}

# Derived tables, never exported: the SQLite full-text index of facts (its shadow tables) and
# ``facts_fts_watermark``, how far it reaches. Imported facts get new ``seq`` values above the
# watermark, so the importing node indexes them (recall first catches up: none is missed).
DERIVED_PREFIX = "facts_fts"
