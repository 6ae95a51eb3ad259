-- Memory gardens (named, ACL'd partitions inside a scope) and quarantine holds.

CREATE TABLE gardens (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('local','team','company','public')),
    description TEXT,
    quarantine  INTEGER NOT NULL DEFAULT 0 CHECK (quarantine IN (0, 1)),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    UNIQUE (tenant_id, slug)
);

-- Deleting a garden ends every membership in it; its facts stay (they are immutable) and,
-- having no members left, are visible only to node admins.
CREATE TABLE garden_members (
    garden_id  TEXT NOT NULL REFERENCES gardens (id) ON DELETE CASCADE,
    entity_uri TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('admin','writer','reader','quarantine:moderator')),
    added_by   TEXT NOT NULL,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (garden_id, entity_uri)
);
CREATE INDEX garden_members_entity ON garden_members (entity_uri);

-- Garden-tagged facts are a small share of the store: a partial index serves the
-- ``garden_id=`` filter and the pending-facts check without growing the main table's indexes.
CREATE INDEX facts_garden ON facts (garden_id, seq) WHERE garden_id IS NOT NULL;

-- A fact written into a quarantine garden is held here as ``pending`` until a moderator
-- promotes or rejects it. The fact row itself never changes; this is its moderation state.
CREATE TABLE fact_quarantine (
    fact_id          TEXT PRIMARY KEY REFERENCES facts (id),
    garden_id        TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending','promoted','rejected')),
    reason           TEXT,
    held_at          TEXT NOT NULL,
    acted_by         TEXT,
    acted_at         TEXT,
    target_garden_id TEXT,
    promoted_fact_id TEXT
);
CREATE INDEX fact_quarantine_garden ON fact_quarantine (garden_id, status);
CREATE INDEX fact_quarantine_status ON fact_quarantine (status);

-- A decision is final: only a pending hold may change, and holds are never removed.
CREATE TRIGGER fact_quarantine_decided BEFORE UPDATE ON fact_quarantine
WHEN OLD.status <> 'pending'
BEGIN
    SELECT RAISE(ABORT, 'quarantine decision is final: UPDATE refused');
END;

CREATE TRIGGER fact_quarantine_no_delete BEFORE DELETE ON fact_quarantine
BEGIN
    SELECT RAISE(ABORT, 'quarantine holds are permanent: DELETE refused');
END;
