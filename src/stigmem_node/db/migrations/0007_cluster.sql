-- Several node processes on one database (PostgreSQL, or one SQLite file): leases, so that a
-- background duty (a peer's pull loop, periodic decay, audit pruning) runs in one process at a
-- time, and the process that runs each job. The same SQL serves both engines.

-- ``name`` is the duty (``pull:<peer id>``, ``decay-sweep``) or ``instance:<id>`` for a live
-- process. A lease is held by ``holder`` until ``expires_at`` (the stored timestamp form),
-- renewed well before then while the holder lives; an expired lease may be taken by anyone.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- The process instance running the job (its ``instance:<owner>`` lease says it is alive). A
-- pending or running job whose owner is gone is failed by whichever process notices.
ALTER TABLE jobs ADD COLUMN owner TEXT;
