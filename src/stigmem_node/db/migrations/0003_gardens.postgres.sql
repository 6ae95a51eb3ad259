-- Memory gardens and quarantine holds on PostgreSQL (see 0003_gardens.sql for the design).

CREATE TABLE gardens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    slug        TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    scope       TEXT COLLATE "C" NOT NULL CHECK (scope IN ('local','team','company','public')),
    description TEXT COLLATE "C",
    quarantine  INTEGER NOT NULL DEFAULT 0 CHECK (quarantine IN (0, 1)),
    created_by  TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    tenant_id   TEXT COLLATE "C" NOT NULL DEFAULT 'default',
    UNIQUE (tenant_id, slug)
);

CREATE TABLE garden_members (
    garden_id  TEXT COLLATE "C" NOT NULL REFERENCES gardens (id) ON DELETE CASCADE,
    entity_uri TEXT COLLATE "C" NOT NULL,
    role       TEXT COLLATE "C" NOT NULL
                   CHECK (role IN ('admin','writer','reader','quarantine:moderator')),
    added_by   TEXT COLLATE "C" NOT NULL,
    added_at   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (garden_id, entity_uri)
);
CREATE INDEX garden_members_entity ON garden_members (entity_uri);

CREATE INDEX facts_garden ON facts (garden_id, seq) WHERE garden_id IS NOT NULL;

CREATE TABLE fact_quarantine (
    fact_id          TEXT COLLATE "C" PRIMARY KEY REFERENCES facts (id),
    garden_id        TEXT COLLATE "C" NOT NULL,
    status           TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending','promoted','rejected')),
    reason           TEXT COLLATE "C",
    held_at          TEXT COLLATE "C" NOT NULL,
    acted_by         TEXT COLLATE "C",
    acted_at         TEXT COLLATE "C",
    target_garden_id TEXT COLLATE "C",
    promoted_fact_id TEXT COLLATE "C"
);
CREATE INDEX fact_quarantine_garden ON fact_quarantine (garden_id, status);
CREATE INDEX fact_quarantine_status ON fact_quarantine (status);

CREATE TRIGGER fact_quarantine_decided BEFORE UPDATE ON fact_quarantine
    FOR EACH ROW WHEN (OLD.status <> 'pending')
    EXECUTE FUNCTION stigmem_refuse('quarantine decision is final: UPDATE refused');
CREATE TRIGGER fact_quarantine_no_delete BEFORE DELETE ON fact_quarantine
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('quarantine holds are permanent: DELETE refused');
CREATE TRIGGER fact_quarantine_no_truncate BEFORE TRUNCATE ON fact_quarantine
    FOR EACH STATEMENT EXECUTE FUNCTION stigmem_refuse('quarantine holds are permanent: DELETE refused');
