"""Full-text search over facts: FTS5 on SQLite, ``tsvector`` + GIN on PostgreSQL.

Both index the entity, relation and value of every ordinary (non-reserved) fact, folded the
same way (case, diacritics, punctuation as separators; see ``recall.text.fold``). The index is
searched with OR-ed terms, each a whole word or a word prefix. Recall asks three things of it:
how many documents hold a term (to drop the common ones), and the best (or newest) matches
that also pass a ``WHERE`` over ``facts f``.

* SQLite: the contentless ``facts_fts`` table (rowid = ``facts.seq``), ranked by BM25 with
  weights entity 1, relation 0.5, value 1; term counts from ``facts_fts_vocab``.
* PostgreSQL: the generated ``facts.search`` column (weights A/B/A for the same columns),
  ranked by ``ts_rank``; term counts by a bounded index scan (PostgreSQL keeps no per-term
  statistics that are cheap to read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stigmem_node.db.dialect import Cursor


class FullText(Protocol):
    def match_query(self, terms: list[tuple[str, bool]]) -> str:
        """The engine's query text for ``(word, is_prefix)`` terms, OR-ed."""

    def doc_count(self, cur: Cursor, word: str, prefix: bool, cap: int) -> int:
        """Documents holding the term; may stop counting above ``cap``."""

    def hits_sql(self, where: str, rank_all: bool) -> str:
        """``SELECT f.seq, <score>`` of facts matching ``:q`` and ``where``, best first
        (newest first unless ``rank_all``), at most ``:limit``. Higher scores are better."""


class Fts5:
    def match_query(self, terms: list[tuple[str, bool]]) -> str:
        return " OR ".join(f'"{word}"*' if prefix else f'"{word}"' for word, prefix in terms)

    def doc_count(self, cur: Cursor, word: str, prefix: bool, cap: int) -> int:
        if prefix:
            sql = "SELECT COALESCE(SUM(doc), 0) FROM facts_fts_vocab WHERE term >= ? AND term < ?"
            row = cur.execute(sql, (word, word + "\U0010ffff")).fetchone()
        else:
            row = cur.execute("SELECT doc FROM facts_fts_vocab WHERE term = ?", (word,)).fetchone()
        return int(row[0]) if row else 0

    def hits_sql(self, where: str, rank_all: bool) -> str:
        order = "rank_score DESC" if rank_all else "facts_fts.rowid DESC"
        # SQLite's bm25() is lower-is-better: negated. Entity, relation and value columns.
        return (
            "SELECT f.seq, -bm25(facts_fts, 1.0, 0.5, 1.0) AS rank_score"
            " FROM facts_fts JOIN facts f ON f.seq = facts_fts.rowid"
            f" WHERE facts_fts MATCH :q AND {where} ORDER BY {order} LIMIT :limit"
        )


class TsVector:
    def match_query(self, terms: list[tuple[str, bool]]) -> str:
        # Words are letters and digits only (``recall.text.words``): nothing to escape.
        return " | ".join(f"'{word}':*" if prefix else f"'{word}'" for word, prefix in terms)

    def doc_count(self, cur: Cursor, word: str, prefix: bool, cap: int) -> int:
        row = cur.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM facts"
            " WHERE search @@ to_tsquery('simple', ?) LIMIT ?) AS hit",
            (self.match_query([(word, prefix)]), cap + 1),
        ).fetchone()
        return int(row[0])

    def hits_sql(self, where: str, rank_all: bool) -> str:
        order = "rank_score DESC, f.seq DESC" if rank_all else "f.seq DESC"
        return (
            "SELECT f.seq, ts_rank('{0.1, 0.2, 0.5, 1.0}', f.search,"
            " to_tsquery('simple', :q)) AS rank_score FROM facts f"
            f" WHERE f.search @@ to_tsquery('simple', :q) AND {where} ORDER BY {order}"
            " LIMIT :limit"
        )
