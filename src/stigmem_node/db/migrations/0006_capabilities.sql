-- Organisation manifests and capability tokens (wire reference §5.5).

-- The current manifest of each entity (self-signed by ``public_key``), replaced only by a
-- newer one. ``manifest_history`` keeps every accepted upload (rate limit, key regression).
CREATE TABLE federation_manifests (
    entity_uri TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    public_key TEXT NOT NULL,
    manifest   TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    stored_at  TEXT NOT NULL,
    stored_by  TEXT
);

CREATE TABLE manifest_history (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_uri TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    stored_at  TEXT NOT NULL
);
CREATE INDEX manifest_history_entity ON manifest_history (entity_uri, stored_at);

-- Capability tokens this node issued. Only ``revoked_*`` ever changes.
CREATE TABLE capability_tokens (
    token_id      TEXT PRIMARY KEY,
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    verb          TEXT NOT NULL,
    object        TEXT NOT NULL,
    issued_at     TEXT NOT NULL,
    expiry        TEXT NOT NULL,
    nonce         TEXT NOT NULL UNIQUE CHECK (length(nonce) = 64),
    token_json    TEXT NOT NULL,
    created_by    TEXT,
    revoked_at    TEXT,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX capability_tokens_issuer ON capability_tokens (issuer);
CREATE INDEX capability_tokens_subject ON capability_tokens (subject);

CREATE TRIGGER capability_tokens_revoke_only BEFORE UPDATE ON capability_tokens
WHEN old.revoked_at IS NOT NULL
  OR new.token_id IS NOT old.token_id OR new.issuer IS NOT old.issuer
  OR new.subject IS NOT old.subject OR new.verb IS NOT old.verb OR new.object IS NOT old.object
  OR new.issued_at IS NOT old.issued_at OR new.expiry IS NOT old.expiry
  OR new.nonce IS NOT old.nonce OR new.token_json IS NOT old.token_json
BEGIN
    SELECT RAISE(ABORT, 'capability tokens change only by revocation, once');
END;
