-- Identity and accountability on PostgreSQL (see 0002_identity.sql for the design).

CREATE TABLE agent_keys (
    id            TEXT COLLATE "C" PRIMARY KEY,
    entity_uri    TEXT COLLATE "C" NOT NULL,
    public_key    TEXT COLLATE "C" NOT NULL,
    description   TEXT COLLATE "C",
    registered_at TEXT COLLATE "C" NOT NULL,
    status        TEXT COLLATE "C" NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active','revoked')),
    revoked_at    TEXT COLLATE "C"
);
CREATE INDEX agent_keys_entity ON agent_keys (entity_uri, registered_at);

-- Only active -> revoked (with a time), nothing else about the key may change.
CREATE TRIGGER agent_keys_revoke_only BEFORE UPDATE ON agent_keys
    FOR EACH ROW WHEN (NOT (
        OLD.status = 'active' AND NEW.status = 'revoked' AND NEW.revoked_at IS NOT NULL
        AND NEW.id = OLD.id AND NEW.entity_uri = OLD.entity_uri
        AND NEW.public_key = OLD.public_key
        AND NEW.description IS NOT DISTINCT FROM OLD.description
        AND NEW.registered_at = OLD.registered_at
    ))
    EXECUTE FUNCTION stigmem_refuse('agent keys are immutable: only active -> revoked is allowed');
CREATE TRIGGER agent_keys_no_delete BEFORE DELETE ON agent_keys
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('agent keys are never deleted: revoke them');
CREATE TRIGGER agent_keys_no_truncate BEFORE TRUNCATE ON agent_keys
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('agent keys are never deleted: revoke them');

-- Audit retention: DELETE is refused unless the deleting transaction opened the prune window
-- and the row is older than its horizon (audit.retention does both in one transaction).
CREATE TABLE audit_prune_window (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    horizon TEXT COLLATE "C" NOT NULL
);

CREATE FUNCTION stigmem_audit_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_prune_window w WHERE OLD.ts < w.horizon) THEN
        RAISE EXCEPTION 'audit log is append-only: DELETE refused'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$;

DROP TRIGGER audit_no_delete ON audit_log;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION stigmem_audit_delete();

CREATE INDEX audit_oidc_sub ON audit_log (oidc_sub, seq) WHERE oidc_sub IS NOT NULL;
