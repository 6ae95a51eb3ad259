"""Several node processes, one logical node: leases on shared duties, process presence.

Every process sharing a database holds an ``instance:<id>`` lease while it runs (renewed in
the background, released on a clean stop). A background duty that must not run twice for the
same work takes a named lease first (``Leases.hold``) and runs only while it holds it; the
presence loop renews every lease held, so a duty stays with one process until that process
stops or dies, and then passes to another within the lease's lifetime. Leases live in the
database and use the node's clock, so they work the same on SQLite and PostgreSQL.
"""
