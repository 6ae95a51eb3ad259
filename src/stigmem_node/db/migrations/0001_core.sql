-- Core node: facts, retractions, conflicts, API keys, audit log, node metadata.

CREATE TABLE node_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Facts are insert-only. ``seq`` is the local commit sequence (AUTOINCREMENT never reuses a
-- value), the keyset-pagination key and the federation cursor.
CREATE TABLE facts (
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    id                    TEXT NOT NULL UNIQUE,
    entity                TEXT NOT NULL,
    relation              TEXT NOT NULL,
    value_type            TEXT NOT NULL CHECK (value_type IN
                              ('string','text','number','boolean','datetime','ref','null')),
    value_v               TEXT NOT NULL,
    interpret_as          TEXT NOT NULL DEFAULT 'content'
                              CHECK (interpret_as IN ('content','instruction')),
    source                TEXT NOT NULL,
    timestamp             TEXT NOT NULL,
    hlc                   TEXT NOT NULL,
    received_from         TEXT,
    valid_until           TEXT,
    valid_until_utc       TEXT,
    confidence            REAL NOT NULL CHECK (confidence >= 0.0 AND confidence <= 1.0),
    scope                 TEXT NOT NULL CHECK (scope IN ('local','team','company','public')),
    attested_key_id       TEXT,
    origin_node_id        TEXT,
    origin_allowed_scopes TEXT,
    garden_id             TEXT,
    cid                   TEXT,
    derived_from          TEXT,
    writer                TEXT,
    reserved              INTEGER NOT NULL DEFAULT 0,
    re_federation_blocked INTEGER NOT NULL DEFAULT 0,
    tenant_id             TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX facts_triple ON facts (entity, relation, scope);
CREATE INDEX facts_relation ON facts (relation);
CREATE INDEX facts_source ON facts (source);
CREATE INDEX facts_cid ON facts (cid);
CREATE INDEX facts_scope_seq ON facts (scope, seq);

CREATE TRIGGER facts_no_update BEFORE UPDATE ON facts
BEGIN
    SELECT RAISE(ABORT, 'facts are immutable: UPDATE refused');
END;

CREATE TRIGGER facts_no_delete BEFORE DELETE ON facts
BEGIN
    SELECT RAISE(ABORT, 'facts are immutable: DELETE refused');
END;

-- A fact is retracted by a later confidence-0 fact with the same content, or by the
-- resolution of a conflict it lost. Rows here are themselves never changed.
CREATE TABLE fact_retractions (
    fact_id       TEXT PRIMARY KEY REFERENCES facts (id),
    retracted_by  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    retracted_at  TEXT NOT NULL
);

CREATE TABLE conflicts (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT NOT NULL UNIQUE,
    fact_a_id          TEXT NOT NULL REFERENCES facts (id),
    fact_b_id          TEXT NOT NULL REFERENCES facts (id),
    status             TEXT NOT NULL DEFAULT 'unresolved'
                           CHECK (status IN ('unresolved','resolved')),
    resolution_fact_id TEXT,
    resolved_by        TEXT,
    resolved_at        TEXT,
    detected_at        TEXT NOT NULL
);
CREATE INDEX conflicts_status ON conflicts (status, seq);
CREATE INDEX conflicts_fact_a ON conflicts (fact_a_id);
CREATE INDEX conflicts_fact_b ON conflicts (fact_b_id);

-- API keys: ``key_digest`` (SHA-256 of the key) is the O(1) lookup; ``key_hash`` (Argon2id)
-- is what a key is verified against. The raw key is never stored.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    key_digest  TEXT NOT NULL UNIQUE,
    key_hash    TEXT NOT NULL,
    entity_uri  TEXT NOT NULL,
    permissions TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    oidc_sub    TEXT,
    tenant_id   TEXT NOT NULL DEFAULT 'default'
);
CREATE INDEX api_keys_entity ON api_keys (entity_uri);
CREATE INDEX api_keys_expires ON api_keys (expires_at);

-- Append-only audit log, written in the same transaction as the change it records.
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    entity_uri      TEXT,
    oidc_sub        TEXT,
    fact_id         TEXT,
    source          TEXT,
    attested_key_id TEXT,
    ts              TEXT NOT NULL,
    tenant_id       TEXT NOT NULL DEFAULT 'default',
    detail          TEXT
);
CREATE INDEX audit_fact ON audit_log (fact_id);
CREATE INDEX audit_entity ON audit_log (entity_uri, seq);
CREATE INDEX audit_type ON audit_log (event_type, seq);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused');
END;

-- Batch idempotency: a key replays its first response; another body under it is 409.
CREATE TABLE batch_requests (
    idempotency_key TEXT NOT NULL,
    principal       TEXT NOT NULL,
    body_digest     TEXT NOT NULL,
    response        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
