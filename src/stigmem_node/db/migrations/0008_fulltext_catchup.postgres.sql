-- Full-text indexing off the write path: SQLite only (see 0008_fulltext_catchup.sql).
-- PostgreSQL keeps its generated ``facts.search`` column, computed as each fact is inserted;
-- nothing changes here.
SELECT 1;
