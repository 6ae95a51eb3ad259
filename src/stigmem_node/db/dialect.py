"""What differs between the engines, and nothing else.

``_txn`` functions receive a :class:`Cursor` whatever the engine: plain DB-API calls with
SQLite's parameter styles (``?``, ``:name``). On PostgreSQL the cursor rewrites each statement
once (``sqltext.to_postgres``, cached), so stores keep one code path. The few things a store
cannot write in the common subset (full-text search) it asks of ``cur.dialect``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from stigmem_node.db.fulltext import FullText

EngineName = Literal["sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One engine's differences: its name, its migration files and its full-text search."""

    name: EngineName
    fulltext: FullText
    # Migration files of this engine: ``NNNN_name.<suffix>`` wins over ``NNNN_name.sql``.
    migration_suffix: str

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"


class Cursor(Protocol):
    """The DB-API cursor a ``_txn`` function gets (``sqlite3.Cursor`` or psycopg's, wrapped)."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Sequence[Any], /) -> Cursor: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...
