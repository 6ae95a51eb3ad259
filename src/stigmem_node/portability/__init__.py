"""Portability: export a node's memory to NDJSON, import it elsewhere, back the database up.

The export is an operator's tool on the database file: it holds **every** fact of every
scope and garden (the file is written with mode 0600), so it is a full copy of the node's
memory, not an API read, and no ACL applies. What it carries (``tables.EXPORTED``) is every
row needed to reproduce the node's reads: facts exactly as stored (ids, CIDs, HLCs,
timestamps, provenance, ``received_from``/``origin_*``), retractions, validity overrides,
conflicts and their resolution state, gardens, memberships, quarantine holds and the agent
keys that attested facts name. What it leaves out (``tables.EXCLUDED``) is bound to one node
(identity and private key, API key hashes, peers and cursors, the audit log) or derived
(the full-text index, rebuilt by the facts insert trigger); ``stigmem backup`` copies those.

Format (one JSON object per line, UTF-8)::

    {"type":"header","format":"stigmem-export","format_version":1,"schema_version":6,
     "node_id":"stigmem:node:...","exported_at":"...","tables":{"facts":["id",...],...}}
    {"type":"row","table":"facts","row":{"id":"...","entity":"...",...}}
    ...
    {"type":"footer","rows":{"facts":123,...},"sha256":"<hex of every byte before this line>"}

Rows come table by table in dependency order (gardens before members, facts before what
refers to them); facts and conflicts in their local commit order, so an import assigns new
local sequence numbers (``facts.seq``, the federation cursor) in the original relative order,
and the other tables by key.

Both engines are served (columns are listed from the engine's catalogue, rows are ordered by
commit sequence or key, never by SQLite's rowid), so a SQLite node's export imports into
PostgreSQL and back.

Import is one transaction: it checks every line, inserts rows it does not hold, skips rows it
holds identically (so importing the same file twice changes nothing) and refuses the whole
file, writing nothing, on any malformed line, unknown table or column, a row that contradicts
a stored one (same key, other values), a constraint violation, or a footer whose counts or
checksum do not match (a truncated or edited file).
"""
