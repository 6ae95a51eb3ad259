-- Core node on PostgreSQL: the same tables as 0001_core.sql, in PostgreSQL's terms.
--
-- Text columns use the "C" collation: comparisons and ORDER BY follow code points, as on
-- SQLite, whatever the database's locale (and btree comparisons stay cheap). Booleans stay
-- 0/1 integers and confidences are float8, so rows read back exactly as on SQLite.

-- Refuses a change: TG_ARGV[0] is the message. Integrity-constraint SQLSTATE, so drivers raise
-- IntegrityError, as SQLite's RAISE(ABORT) does.
CREATE FUNCTION stigmem_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END
$$;

-- The commit sequence. A row's ``seq`` is drawn while its transaction holds the commit-order
-- lock (the node's writers take it first; this takes it again for anyone else), and the lock
-- is held until commit: sequence order is commit order, across every process. Explicit values
-- are kept only while restoring a copy (``SET LOCAL stigmem.restore = 'on'``).
-- TG_ARGV[0]: the table's sequence. The key is db.postgres.COMMIT_LOCK_KEY.
CREATE FUNCTION stigmem_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(6004504799382293844);
    IF NEW.seq IS NULL OR current_setting('stigmem.restore', true) IS DISTINCT FROM 'on' THEN
        NEW.seq := nextval(TG_ARGV[0]::regclass);
    END IF;
    RETURN NEW;
END
$$;

CREATE TABLE node_meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

CREATE TABLE facts (
    seq                   BIGINT PRIMARY KEY,
    id                    TEXT COLLATE "C" NOT NULL UNIQUE,
    entity                TEXT COLLATE "C" NOT NULL,
    relation              TEXT COLLATE "C" NOT NULL,
    value_type            TEXT COLLATE "C" NOT NULL CHECK (value_type IN
                              ('string','text','number','boolean','datetime','ref','null')),
    value_v               TEXT COLLATE "C" NOT NULL,
    interpret_as          TEXT COLLATE "C" NOT NULL DEFAULT 'content'
                              CHECK (interpret_as IN ('content','instruction')),
    source                TEXT COLLATE "C" NOT NULL,
    timestamp             TEXT COLLATE "C" NOT NULL,
    hlc                   TEXT COLLATE "C" NOT NULL,
    received_from         TEXT COLLATE "C",
    valid_until           TEXT COLLATE "C",
    valid_until_utc       TEXT COLLATE "C",
    confidence            DOUBLE PRECISION NOT NULL CHECK (confidence >= 0.0 AND confidence <= 1.0),
    scope                 TEXT COLLATE "C" NOT NULL CHECK (scope IN ('local','team','company','public')),
    attested_key_id       TEXT COLLATE "C",
    origin_node_id        TEXT COLLATE "C",
    origin_allowed_scopes TEXT COLLATE "C",
    garden_id             TEXT COLLATE "C",
    cid                   TEXT COLLATE "C",
    derived_from          TEXT COLLATE "C",
    writer                TEXT COLLATE "C",
    reserved              INTEGER NOT NULL DEFAULT 0,
    re_federation_blocked INTEGER NOT NULL DEFAULT 0,
    tenant_id             TEXT COLLATE "C" NOT NULL DEFAULT 'default'
);
CREATE SEQUENCE facts_seq_seq AS BIGINT OWNED BY facts.seq;
CREATE INDEX facts_triple ON facts (entity, relation, scope);
CREATE INDEX facts_relation ON facts (relation);
CREATE INDEX facts_source ON facts (source);
CREATE INDEX facts_cid ON facts (cid);
CREATE INDEX facts_scope_seq ON facts (scope, seq);

CREATE TRIGGER facts_commit_order BEFORE INSERT ON facts
    FOR EACH ROW EXECUTE FUNCTION stigmem_commit_order('facts_seq_seq');
-- Statement-level: an UPDATE or DELETE is refused even when it would touch no row.
CREATE TRIGGER facts_no_update BEFORE UPDATE ON facts
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('facts are immutable: UPDATE refused');
CREATE TRIGGER facts_no_delete BEFORE DELETE ON facts
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('facts are immutable: DELETE refused');
CREATE TRIGGER facts_no_truncate BEFORE TRUNCATE ON facts
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('facts are immutable: TRUNCATE refused');

CREATE TABLE fact_retractions (
    fact_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES facts (id),
    retracted_by  TEXT COLLATE "C" NOT NULL,
    reason        TEXT COLLATE "C" NOT NULL,
    retracted_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE conflicts (
    seq                BIGINT PRIMARY KEY,
    id                 TEXT COLLATE "C" NOT NULL UNIQUE,
    fact_a_id          TEXT COLLATE "C" NOT NULL REFERENCES facts (id),
    fact_b_id          TEXT COLLATE "C" NOT NULL REFERENCES facts (id),
    status             TEXT COLLATE "C" NOT NULL DEFAULT 'unresolved'
                           CHECK (status IN ('unresolved','resolved')),
    resolution_fact_id TEXT COLLATE "C",
    resolved_by        TEXT COLLATE "C",
    resolved_at        TEXT COLLATE "C",
    detected_at        TEXT COLLATE "C" NOT NULL
);
CREATE SEQUENCE conflicts_seq_seq AS BIGINT OWNED BY conflicts.seq;
CREATE TRIGGER conflicts_commit_order BEFORE INSERT ON conflicts
    FOR EACH ROW EXECUTE FUNCTION stigmem_commit_order('conflicts_seq_seq');
CREATE INDEX conflicts_status ON conflicts (status, seq);
CREATE INDEX conflicts_fact_a ON conflicts (fact_a_id);
CREATE INDEX conflicts_fact_b ON conflicts (fact_b_id);

CREATE TABLE api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    key_digest  TEXT COLLATE "C" NOT NULL UNIQUE,
    key_hash    TEXT COLLATE "C" NOT NULL,
    entity_uri  TEXT COLLATE "C" NOT NULL,
    permissions TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    created_at  TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT COLLATE "C",
    oidc_sub    TEXT COLLATE "C",
    tenant_id   TEXT COLLATE "C" NOT NULL DEFAULT 'default'
);
CREATE INDEX api_keys_entity ON api_keys (entity_uri);
CREATE INDEX api_keys_expires ON api_keys (expires_at);

CREATE TABLE audit_log (
    seq             BIGINT PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    event_type      TEXT COLLATE "C" NOT NULL,
    entity_uri      TEXT COLLATE "C",
    oidc_sub        TEXT COLLATE "C",
    fact_id         TEXT COLLATE "C",
    source          TEXT COLLATE "C",
    attested_key_id TEXT COLLATE "C",
    ts              TEXT COLLATE "C" NOT NULL,
    tenant_id       TEXT COLLATE "C" NOT NULL DEFAULT 'default',
    detail          TEXT COLLATE "C"
);
CREATE SEQUENCE audit_log_seq_seq AS BIGINT OWNED BY audit_log.seq;
CREATE TRIGGER audit_commit_order BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION stigmem_commit_order('audit_log_seq_seq');
CREATE INDEX audit_fact ON audit_log (fact_id);
CREATE INDEX audit_entity ON audit_log (entity_uri, seq);
CREATE INDEX audit_type ON audit_log (event_type, seq);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('audit log is append-only: UPDATE refused');
-- 0002 replaces this with the retention-aware check.
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION stigmem_refuse('audit log is append-only: DELETE refused');
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('audit log is append-only: TRUNCATE refused');

CREATE TABLE batch_requests (
    idempotency_key TEXT COLLATE "C" NOT NULL,
    principal       TEXT COLLATE "C" NOT NULL,
    body_digest     TEXT COLLATE "C" NOT NULL,
    response        TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
