"""The node's benchmark suite (``python -m bench``; never part of ``make test``).

A load generator running in its own processes drives real ``stigmem-node`` processes on
127.0.0.1, each scenario on a fresh database (a SQLite file in a temporary directory, or a
PostgreSQL database the bench creates and drops; one or several node processes sharing it),
and measures in the same run the ceilings that make the figures comparable across noisy
machines: a bare FastAPI app parsing the same body, and a bare ``executemany`` of the same
rows into the same schema.
"""
