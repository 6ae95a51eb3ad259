-- Federation: peers, replication state per peer and direction, the nonce replay cache and
-- the federation audit log.

-- One row per peer declaration this node accepted for verification. ``allowed_scopes`` is
-- the peer's declared list (JSON, sorted). A rejected or revoked row may be replaced by a
-- new registration; a removed peer is deleted.
CREATE TABLE peers (
    id                TEXT PRIMARY KEY,
    node_id           TEXT NOT NULL UNIQUE,
    node_url          TEXT NOT NULL,
    federation_pubkey TEXT NOT NULL,
    allowed_scopes    TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending_verification', 'pending_approval',
                          'active', 'rejected', 'revoked', 'pending_tl_proof')),
    status_reason     TEXT,
    established_at    TEXT,
    declaration_sig   TEXT NOT NULL,
    signed_at         TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    registered_by     TEXT
);
CREATE INDEX peers_status ON peers (status);

-- ``inbound``: the opaque cursor of the peer's pages we have committed. ``outbound``: the
-- local ``facts.seq`` our pusher has delivered. ``failures``/``retry_at`` persist the
-- exponential backoff so that a restart does not hammer a failing peer.
CREATE TABLE replication_cursors (
    peer_id    TEXT NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    direction  TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    cursor     TEXT,
    failures   INTEGER NOT NULL DEFAULT 0,
    retry_at   TEXT,
    last_error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (peer_id, direction)
);

-- Peer-token nonces, per issuing node, kept until ``expires_ms`` (epoch milliseconds).
CREATE TABLE nonce_cache (
    issuer     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (issuer, nonce)
);
CREATE INDEX nonce_cache_expiry ON nonce_cache (expires_ms);

-- Append-only federation audit (served by GET /v1/federation/audit). ``peer_id`` is the
-- local peer id, or the token's issuer when no peer row matches (as upstream).
CREATE TABLE federation_audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    peer_id    TEXT,
    event_type TEXT NOT NULL,
    detail     TEXT,
    ts         TEXT NOT NULL
);
CREATE INDEX federation_audit_peer ON federation_audit (peer_id, seq);
CREATE INDEX federation_audit_type ON federation_audit (event_type, seq);

CREATE TRIGGER federation_audit_no_update BEFORE UPDATE ON federation_audit
BEGIN
    SELECT RAISE(ABORT, 'federation audit is append-only: UPDATE refused');
END;

CREATE TRIGGER federation_audit_no_delete BEFORE DELETE ON federation_audit
BEGIN
    SELECT RAISE(ABORT, 'federation audit is append-only: DELETE refused');
END;

