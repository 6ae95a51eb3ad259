-- Memory upkeep on PostgreSQL (see 0004_memory.sql for the design).

-- Full-text index for recall: a generated tsvector over the entity (weight A), relation (B)
-- and value (A) of every ordinary fact, with a GIN index; reserved facts get none. Text is
-- folded as recall.text.fold folds a query: diacritics removed (unaccent), lower-cased (ICU,
-- when the server has it: Unicode case folding whatever the database locale), anything but
-- letters and digits a separator. Facts are insert-only, so the column is computed once.
CREATE EXTENSION IF NOT EXISTS unaccent;

DO $migration$
DECLARE
    ns   text;
    coll text := '';
BEGIN
    SELECT n.nspname INTO ns FROM pg_extension e
        JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent';
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        coll := ' COLLATE "und-x-icu"';
    END IF;
    EXECUTE format(
        'CREATE FUNCTION stigmem_fold(t text) RETURNS text'
        ' LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS %L',
        format('SELECT regexp_replace(lower(%I.unaccent(%L::regdictionary, t)%s), %L, %L, %L)',
               ns, ns || '.unaccent', coll, '[^[:alnum:]]+', ' ', 'g'));
END
$migration$;

ALTER TABLE facts ADD COLUMN search tsvector GENERATED ALWAYS AS (
    CASE WHEN reserved = 0 THEN
        setweight(to_tsvector('simple', stigmem_fold(entity)), 'A')
        || setweight(to_tsvector('simple', stigmem_fold(relation)), 'B')
        || setweight(to_tsvector('simple',
               CASE WHEN value_type = 'null' THEN '' ELSE stigmem_fold(value_v) END), 'A')
    END
) STORED;
CREATE INDEX facts_search ON facts USING gin (search);

CREATE TABLE fact_validity_overrides (
    fact_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES facts (id),
    valid_until TEXT COLLATE "C" NOT NULL,
    reason      TEXT COLLATE "C" NOT NULL,
    set_by      TEXT COLLATE "C" NOT NULL,
    set_at      TEXT COLLATE "C" NOT NULL
);
CREATE TRIGGER fact_validity_overrides_no_update BEFORE UPDATE ON fact_validity_overrides
    FOR EACH STATEMENT
    EXECUTE FUNCTION stigmem_refuse('validity overrides are immutable: UPDATE refused');
CREATE TRIGGER fact_validity_overrides_no_delete BEFORE DELETE ON fact_validity_overrides
    FOR EACH STATEMENT
    EXECUTE FUNCTION stigmem_refuse('validity overrides are immutable: DELETE refused');
CREATE TRIGGER fact_validity_overrides_no_truncate BEFORE TRUNCATE ON fact_validity_overrides
    FOR EACH STATEMENT
    EXECUTE FUNCTION stigmem_refuse('validity overrides are immutable: DELETE refused');

-- The entity graph: out-edges by subject, in-edges by the (ASCII-lowercased: the column's
-- collation is "C", as SQLite's lower()) target.
CREATE INDEX facts_ref_out ON facts (entity, scope) WHERE value_type = 'ref';
CREATE INDEX facts_ref_in ON facts (lower(value_v), scope) WHERE value_type = 'ref';

CREATE TABLE jobs (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT COLLATE "C" NOT NULL UNIQUE,
    type         TEXT COLLATE "C" NOT NULL CHECK (type IN ('decay', 'lint')),
    status       TEXT COLLATE "C" NOT NULL
                     CHECK (status IN ('pending', 'running', 'done', 'failed')),
    scope        TEXT COLLATE "C",
    params       TEXT COLLATE "C" NOT NULL,
    created_by   TEXT COLLATE "C" NOT NULL,
    estimated_s  INTEGER NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    started_at   TEXT COLLATE "C",
    completed_at TEXT COLLATE "C",
    heartbeat_at TEXT COLLATE "C",
    progress     TEXT COLLATE "C",
    result       TEXT COLLATE "C",
    error        TEXT COLLATE "C"
);
CREATE INDEX jobs_status ON jobs (status);
