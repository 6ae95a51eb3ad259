"""Storage: one ``Database`` running plain ``_txn(cursor, ...)`` functions on worker threads,
on SQLite (``STIGMEM_DB_PATH``) or PostgreSQL (``STIGMEM_DATABASE_URL``)."""

from stigmem_node.db.database import Database, Engine, SchemaTooNew, WriteStream
from stigmem_node.db.dialect import Cursor, Dialect

__all__ = ["Cursor", "Database", "Dialect", "Engine", "SchemaTooNew", "WriteStream"]
