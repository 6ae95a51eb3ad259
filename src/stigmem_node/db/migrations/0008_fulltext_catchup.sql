-- Full-text indexing off the write path (SQLite). Until now an AFTER INSERT trigger indexed
-- every ordinary fact in the transaction that wrote it; now the node indexes committed facts
-- in chunks, after the fact (``db.fulltext.Fts5.catch_up``), and recall first indexes
-- whatever is still pending, so it sees exactly what the trigger gave it.

DROP TRIGGER facts_fts_insert;

-- How far the index reaches: every fact with ``seq`` up to here is indexed (or reserved, and
-- never indexed); those above are pending. One row. Advanced in the transaction that indexes
-- the facts, so several processes sharing the file never index a fact twice. It starts at
-- the newest fact: the trigger indexed everything before it. Derived, like the index itself
-- (neither is exported nor copied to PostgreSQL).
CREATE TABLE facts_fts_watermark (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO facts_fts_watermark (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM facts;
