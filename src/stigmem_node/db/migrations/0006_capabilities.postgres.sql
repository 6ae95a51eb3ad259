-- Organisation manifests and capability tokens on PostgreSQL (see 0006_capabilities.sql).

CREATE TABLE federation_manifests (
    entity_uri TEXT COLLATE "C" PRIMARY KEY,
    key_id     TEXT COLLATE "C" NOT NULL,
    public_key TEXT COLLATE "C" NOT NULL,
    manifest   TEXT COLLATE "C" NOT NULL,
    issued_at  TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL,
    stored_at  TEXT COLLATE "C" NOT NULL,
    stored_by  TEXT COLLATE "C"
);

CREATE TABLE manifest_history (
    seq        BIGSERIAL PRIMARY KEY,
    entity_uri TEXT COLLATE "C" NOT NULL,
    key_id     TEXT COLLATE "C" NOT NULL,
    issued_at  TEXT COLLATE "C" NOT NULL,
    stored_at  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX manifest_history_entity ON manifest_history (entity_uri, stored_at);

CREATE TABLE capability_tokens (
    token_id      TEXT COLLATE "C" PRIMARY KEY,
    issuer        TEXT COLLATE "C" NOT NULL,
    subject       TEXT COLLATE "C" NOT NULL,
    verb          TEXT COLLATE "C" NOT NULL,
    object        TEXT COLLATE "C" NOT NULL,
    issued_at     TEXT COLLATE "C" NOT NULL,
    expiry        TEXT COLLATE "C" NOT NULL,
    nonce         TEXT COLLATE "C" NOT NULL UNIQUE CHECK (length(nonce) = 64),
    token_json    TEXT COLLATE "C" NOT NULL,
    created_by    TEXT COLLATE "C",
    revoked_at    TEXT COLLATE "C",
    revoked_by    TEXT COLLATE "C",
    revoke_reason TEXT COLLATE "C"
);
CREATE INDEX capability_tokens_issuer ON capability_tokens (issuer);
CREATE INDEX capability_tokens_subject ON capability_tokens (subject);

CREATE TRIGGER capability_tokens_revoke_only BEFORE UPDATE ON capability_tokens
    FOR EACH ROW WHEN (
        OLD.revoked_at IS NOT NULL
        OR NEW.token_id IS DISTINCT FROM OLD.token_id OR NEW.issuer IS DISTINCT FROM OLD.issuer
        OR NEW.subject IS DISTINCT FROM OLD.subject OR NEW.verb IS DISTINCT FROM OLD.verb
        OR NEW.object IS DISTINCT FROM OLD.object
        OR NEW.issued_at IS DISTINCT FROM OLD.issued_at
        OR NEW.expiry IS DISTINCT FROM OLD.expiry OR NEW.nonce IS DISTINCT FROM OLD.nonce
        OR NEW.token_json IS DISTINCT FROM OLD.token_json
    )
    EXECUTE FUNCTION stigmem_refuse('capability tokens change only by revocation, once');
