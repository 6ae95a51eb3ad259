-- Identity and accountability: agent keys (attestation) and audit-log retention.

-- Ed25519 public keys an entity registered to attest the facts it asserts. A key is never
-- deleted and never changed, except once: active → revoked. Facts and audit rows keep
-- pointing at it (attested_key_id), so the audit trail can always name the key's owner.
CREATE TABLE agent_keys (
    id            TEXT PRIMARY KEY,
    entity_uri    TEXT NOT NULL,
    public_key    TEXT NOT NULL,
    description   TEXT,
    registered_at TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','revoked')),
    revoked_at    TEXT
);
CREATE INDEX agent_keys_entity ON agent_keys (entity_uri, registered_at);

CREATE TRIGGER agent_keys_revoke_only BEFORE UPDATE ON agent_keys
WHEN NOT (
    OLD.status = 'active' AND NEW.status = 'revoked' AND NEW.revoked_at IS NOT NULL
    AND NEW.id = OLD.id AND NEW.entity_uri = OLD.entity_uri
    AND NEW.public_key = OLD.public_key AND NEW.description IS OLD.description
    AND NEW.registered_at = OLD.registered_at
)
BEGIN
    SELECT RAISE(ABORT, 'agent keys are immutable: only active -> revoked is allowed');
END;

CREATE TRIGGER agent_keys_no_delete BEFORE DELETE ON agent_keys
BEGIN
    SELECT RAISE(ABORT, 'agent keys are never deleted: revoke them');
END;

-- Audit retention. The audit log stays append-only: UPDATE is always refused, and DELETE is
-- refused unless the deleting transaction has first opened a prune window here, and then only
-- for rows older than that window's horizon. The one code path that does this
-- (audit.retention) opens the window, deletes, records an ``audit_pruned`` event and closes
-- the window in a single transaction, so no other writer ever sees it open.
CREATE TABLE audit_prune_window (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    horizon TEXT NOT NULL
);

DROP TRIGGER audit_no_delete;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_prune_window w WHERE OLD.ts < w.horizon)
BEGIN
    SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused');
END;

-- ``GET /v1/audit?oidc_sub=`` (partial: only OIDC sessions pay for it on the write path).
CREATE INDEX audit_oidc_sub ON audit_log (oidc_sub, seq) WHERE oidc_sub IS NOT NULL;
