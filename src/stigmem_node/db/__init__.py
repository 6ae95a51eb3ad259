"""Storage: one ``Database`` running plain ``_txn(cursor, ...)`` functions on worker threads."""

from stigmem_node.db.database import Cursor, Database, SchemaTooNew

__all__ = ["Cursor", "Database", "SchemaTooNew"]
