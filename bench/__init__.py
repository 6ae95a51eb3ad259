"""The node's benchmark suite (``python -m bench``; never part of ``make test``).

A load generator running in its own processes drives a real ``stigmem-node`` process on
127.0.0.1 (fresh database in a temporary directory), and measures in the same run the
ceilings that make the figures comparable across noisy machines: a bare FastAPI app parsing
the same body, and a bare ``executemany`` of the same rows into the same schema.
"""
