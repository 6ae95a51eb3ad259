"""Full-text search over facts: FTS5 on SQLite, ``tsvector`` + GIN on PostgreSQL.

Both index the entity, relation and value of every ordinary (non-reserved) fact, folded the
same way (case, diacritics, punctuation as separators; see ``recall.text.fold``). The index is
searched with OR-ed terms, each a whole word or a word prefix. Recall asks three things of it:
how many documents hold a term (to drop the common ones), and the best (or newest) matches
that also pass a ``WHERE`` over ``facts f``.

* SQLite: the contentless ``facts_fts`` table (rowid = ``facts.seq``), ranked by BM25 with
  weights entity 1, relation 0.5, value 1; term counts from ``facts_fts_vocab``. Facts are
  indexed after they commit, in chunks (``catch_up``), not by the transaction that writes
  them: ``facts_fts_watermark`` says how far the index reaches, and a search must first make
  ``backlog`` zero (``recall.indexer``) to see every committed fact.
* PostgreSQL: the generated ``facts.search`` column (weights A/B/A for the same columns),
  ranked by ``ts_rank``; term counts by a bounded index scan (PostgreSQL keeps no per-term
  statistics that are cheap to read). Computed as each fact is inserted: never a backlog.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stigmem_node.db.dialect import Cursor


# A search term: the folded word, whether it is searched as a prefix, how many documents
# hold it (``doc_count``).
Term = tuple[str, bool, int]


class FullText(Protocol):
    def backlog(self, cur: Cursor) -> int:
        """About how many facts are committed but not yet searchable (0: none)."""

    def catch_up(self, cur: Cursor, limit: int) -> int:
        """Index the next (at most) ``limit`` pending facts in the caller's write
        transaction; return the backlog left (0: the index is complete)."""

    def doc_count(self, cur: Cursor, word: str, prefix: bool, cap: int) -> int:
        """Documents holding the term; may stop counting above ``cap``."""

    def hits(
        self, where: str, rank_all: bool, terms: list[Term], total: int
    ) -> tuple[str, dict[str, Any]]:
        """``SELECT f.seq, rank_score`` of the facts matching any of ``terms`` and ``where``
        (over ``facts f``), best first (newest first unless ``rank_all``), at most ``:limit``;
        and the parameters it adds. Higher scores are better. ``total``: documents indexed
        (about)."""


# The columns the index holds, from ``facts``: a null value is indexed as no text.
_INDEX_ROWS = (
    "INSERT INTO facts_fts (rowid, entity, relation, value)"
    " SELECT seq, entity, relation, CASE WHEN value_type = 'null' THEN '' ELSE value_v END"
    " FROM facts WHERE seq > ? AND seq <= ? AND reserved = 0"
)
_BACKLOG = "SELECT COALESCE((SELECT MAX(seq) FROM facts), 0) - seq FROM facts_fts_watermark"


class Fts5:
    """Facts above ``facts_fts_watermark.seq`` are pending. SQLite writers take turns (also
    across processes sharing the file), so ``seq`` is commit order: no fact below the
    watermark can commit after it moved, and a chunk's facts and the watermark's move are
    committed together, exactly once."""

    @staticmethod
    def backlog(cur: Cursor) -> int:
        return int(cur.execute(_BACKLOG).fetchone()[0])

    @staticmethod
    def catch_up(cur: Cursor, limit: int) -> int:
        (indexed,) = cur.execute("SELECT seq FROM facts_fts_watermark").fetchone()
        (upto,) = cur.execute(
            "SELECT MAX(seq) FROM (SELECT seq FROM facts WHERE seq > ? ORDER BY seq LIMIT ?)",
            (indexed, limit),
        ).fetchone()
        if upto is None:
            return 0
        cur.execute(_INDEX_ROWS, (indexed, upto))
        cur.execute("UPDATE facts_fts_watermark SET seq = ?", (upto,))
        return Fts5.backlog(cur)

    @staticmethod
    def match_query(terms: list[Term]) -> str:
        return " OR ".join(f'"{word}"*' if prefix else f'"{word}"' for word, prefix, _ in terms)

    def doc_count(self, cur: Cursor, word: str, prefix: bool, cap: int) -> int:
        if prefix:
            sql = "SELECT COALESCE(SUM(doc), 0) FROM facts_fts_vocab WHERE term >= ? AND term < ?"
            row = cur.execute(sql, (word, word + "\U0010ffff")).fetchone()
        else:
            row = cur.execute("SELECT doc FROM facts_fts_vocab WHERE term = ?", (word,)).fetchone()
        return int(row[0]) if row else 0

    def hits(
        self, where: str, rank_all: bool, terms: list[Term], total: int
    ) -> tuple[str, dict[str, Any]]:
        order = "rank_score DESC" if rank_all else "facts_fts.rowid DESC"
        # SQLite's bm25() is lower-is-better: negated. Entity, relation and value columns.
        sql = (
            "SELECT f.seq, -bm25(facts_fts, 1.0, 0.5, 1.0) AS rank_score"
            " FROM facts_fts JOIN facts f ON f.seq = facts_fts.rowid"
            f" WHERE facts_fts MATCH :q AND {where} ORDER BY {order} LIMIT :limit"
        )
        return sql, {"q": self.match_query(terms)}


class TsVector:
    """PostgreSQL has no BM25: the rank is a BM25-like sum over the query's terms of the
    term's inverse document frequency times its ``ts_rank`` in the fact (column weights
    entity 1, relation 0.5, value 1; normalised by document length), so rare terms count
    for more than common ones, as with BM25 on SQLite."""

    @staticmethod
    def backlog(cur: Cursor) -> int:
        return 0  # the generated column is computed by the insert itself

    @staticmethod
    def catch_up(cur: Cursor, limit: int) -> int:
        return 0

    @staticmethod
    def _query(word: str, prefix: bool) -> str:
        # Words are letters and digits only (``recall.text.words``): nothing to escape.
        return f"'{word}':*" if prefix else f"'{word}'"

    def doc_count(self, cur: Cursor, word: str, prefix: bool, cap: int) -> int:
        row = cur.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM facts"
            " WHERE search @@ to_tsquery('simple', ?) LIMIT ?) AS hit",
            (self._query(word, prefix), cap + 1),
        ).fetchone()
        return int(row[0])

    def hits(
        self, where: str, rank_all: bool, terms: list[Term], total: int
    ) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"q": " | ".join(self._query(w, p) for w, p, _ in terms)}
        parts = []
        for i, (word, prefix, docs) in enumerate(terms):
            params[f"q{i}"] = self._query(word, prefix)
            params[f"w{i}"] = math.log(1 + (total - docs + 0.5) / (docs + 0.5))
            parts.append(
                f"CAST(:w{i} AS float8) * ts_rank('{{0.1, 0.2, 0.5, 1.0}}', f.search,"
                f" to_tsquery('simple', :q{i}), 1)"
            )
        order = "rank_score DESC, f.seq DESC" if rank_all else "f.seq DESC"
        sql = (
            f"SELECT f.seq, {' + '.join(parts)} AS rank_score FROM facts f"
            f" WHERE f.search @@ to_tsquery('simple', :q) AND {where} ORDER BY {order}"
            " LIMIT :limit"
        )
        return sql, params
