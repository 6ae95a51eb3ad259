-- Memory upkeep: full-text index for recall, validity overrides for decay, graph indexes, jobs.

-- Full-text index of every ordinary fact (reserved ``stigmem:`` metadata is not memory).
-- Contentless: the text lives in ``facts``; the index keeps only what BM25 needs. The rowid is
-- the fact's ``seq``. Facts are insert-only, so one AFTER INSERT trigger keeps it in sync.
CREATE VIRTUAL TABLE facts_fts USING fts5 (
    entity, relation, value,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Per-term document counts, so recall can leave out terms that match most of the store.
CREATE VIRTUAL TABLE facts_fts_vocab USING fts5vocab (facts_fts, 'row');

CREATE TRIGGER facts_fts_insert AFTER INSERT ON facts WHEN new.reserved = 0
BEGIN
    INSERT INTO facts_fts (rowid, entity, relation, value)
    VALUES (new.seq, new.entity, new.relation,
            CASE WHEN new.value_type = 'null' THEN '' ELSE new.value_v END);
END;

INSERT INTO facts_fts (rowid, entity, relation, value)
SELECT seq, entity, relation, CASE WHEN value_type = 'null' THEN '' ELSE value_v END
FROM facts WHERE reserved = 0;

-- A projected expiry that wins over the immutable base row's ``valid_until`` (wire §2.3).
-- Decay writes one when it expires a fact; rows are never changed or removed.
CREATE TABLE fact_validity_overrides (
    fact_id     TEXT PRIMARY KEY REFERENCES facts (id),
    valid_until TEXT NOT NULL,
    reason      TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    set_at      TEXT NOT NULL
);

CREATE TRIGGER fact_validity_overrides_no_update BEFORE UPDATE ON fact_validity_overrides
BEGIN
    SELECT RAISE(ABORT, 'validity overrides are immutable: UPDATE refused');
END;

CREATE TRIGGER fact_validity_overrides_no_delete BEFORE DELETE ON fact_validity_overrides
BEGIN
    SELECT RAISE(ABORT, 'validity overrides are immutable: DELETE refused');
END;

-- The entity graph is the set of live ``ref`` facts: out-edges by subject, in-edges by the
-- (ASCII-lowercased) target, so traversal needs no second copy of the edges to keep in step.
CREATE INDEX facts_ref_out ON facts (entity, scope) WHERE value_type = 'ref';
CREATE INDEX facts_ref_in ON facts (lower(value_v), scope) WHERE value_type = 'ref';

-- Asynchronous decay and lint runs. ``progress`` and ``result`` are JSON objects.
CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL CHECK (type IN ('decay', 'lint')),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    scope        TEXT,
    params       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    estimated_s  INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    completed_at TEXT,
    heartbeat_at TEXT,
    progress     TEXT,
    result       TEXT,
    error        TEXT
);
CREATE INDEX jobs_status ON jobs (status);
