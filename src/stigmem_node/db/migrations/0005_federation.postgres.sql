-- Federation on PostgreSQL (see 0005_federation.sql for the design).

CREATE TABLE peers (
    id                TEXT COLLATE "C" PRIMARY KEY,
    node_id           TEXT COLLATE "C" NOT NULL UNIQUE,
    node_url          TEXT COLLATE "C" NOT NULL,
    federation_pubkey TEXT COLLATE "C" NOT NULL,
    allowed_scopes    TEXT COLLATE "C" NOT NULL,
    status            TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending_verification',
                          'pending_approval', 'active', 'rejected', 'revoked', 'pending_tl_proof')),
    status_reason     TEXT COLLATE "C",
    established_at    TEXT COLLATE "C",
    declaration_sig   TEXT COLLATE "C" NOT NULL,
    signed_at         TEXT COLLATE "C" NOT NULL,
    created_at        TEXT COLLATE "C" NOT NULL,
    registered_by     TEXT COLLATE "C"
);
CREATE INDEX peers_status ON peers (status);

CREATE TABLE replication_cursors (
    peer_id    TEXT COLLATE "C" NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    direction  TEXT COLLATE "C" NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    cursor     TEXT COLLATE "C",
    failures   INTEGER NOT NULL DEFAULT 0,
    retry_at   TEXT COLLATE "C",
    last_error TEXT COLLATE "C",
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (peer_id, direction)
);

CREATE TABLE nonce_cache (
    issuer     TEXT COLLATE "C" NOT NULL,
    nonce      TEXT COLLATE "C" NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (issuer, nonce)
);
CREATE INDEX nonce_cache_expiry ON nonce_cache (expires_ms);

CREATE TABLE federation_audit (
    seq        BIGINT PRIMARY KEY,
    id         TEXT COLLATE "C" NOT NULL UNIQUE,
    peer_id    TEXT COLLATE "C",
    event_type TEXT COLLATE "C" NOT NULL,
    detail     TEXT COLLATE "C",
    ts         TEXT COLLATE "C" NOT NULL
);
CREATE SEQUENCE federation_audit_seq_seq AS BIGINT OWNED BY federation_audit.seq;
CREATE TRIGGER federation_audit_commit_order BEFORE INSERT ON federation_audit
    FOR EACH ROW EXECUTE FUNCTION stigmem_commit_order('federation_audit_seq_seq');
CREATE INDEX federation_audit_peer ON federation_audit (peer_id, seq);
CREATE INDEX federation_audit_type ON federation_audit (event_type, seq);

CREATE TRIGGER federation_audit_no_update BEFORE UPDATE ON federation_audit
    FOR EACH STATEMENT
    EXECUTE FUNCTION stigmem_refuse('federation audit is append-only: UPDATE refused');
CREATE TRIGGER federation_audit_no_delete BEFORE DELETE ON federation_audit
    FOR EACH STATEMENT
    EXECUTE FUNCTION stigmem_refuse('federation audit is append-only: DELETE refused');
CREATE TRIGGER federation_audit_no_truncate BEFORE TRUNCATE ON federation_audit
    FOR EACH STATEMENT
    EXECUTE FUNCTION stigmem_refuse('federation audit is append-only: DELETE refused');
