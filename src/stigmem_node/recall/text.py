"""Query text → full-text search terms, and how much of a query a fact covers.

The index (``db.fulltext``: FTS5's ``unicode61`` tokenizer on SQLite, ``stigmem_fold`` on
PostgreSQL) keeps letters and digits, with case and diacritics folded. Query words are folded
the same way, stop words dropped, and each remaining word reduced to a light stem searched as
a prefix (``engineers`` → ``engineer*``), so plural and inflected forms meet. The search ORs
the terms; the index's rank puts facts matching more and rarer terms first, and ``coverage``
(the share of terms a fact contains) keeps facts that match a single incidental word of a
long query out of the answer.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

MAX_TERMS = 16
_WORD = re.compile(r"[^\W_]+")
STOP_WORDS = frozenset(
    """a about after all also am an and any are as at be been but by can could did do does
    for from had has have he her hers him his how i if in into is it its me my no nor not of
    on or our ours she so such than that the their them then there these they this those to
    too us was we were what when where which who whom why will with would you your yours""".split()  # noqa: SIM905
)


def fold(text: str) -> str:
    """Case- and diacritic-folded text, as the index sees it."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def stem(word: str) -> str:
    """A light English stem (the index is searched by prefix, so this only trims endings)."""
    for suffix, keep in (("ies", 3), ("ing", 4), ("ed", 4), ("es", 4), ("s", 4)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


@dataclass(frozen=True, slots=True)
class Term:
    stem: str
    prefix: bool  # searched as ``stem*``


def query_terms(query: str) -> list[Term]:
    """The distinct search terms of a query, in order (stop words kept only if alone)."""
    found = words(query)
    kept = [w for w in found if w not in STOP_WORDS] or found
    terms: list[Term] = []
    seen: set[str] = set()
    for word in kept:
        base = stem(word)
        if base in seen:
            continue
        seen.add(base)
        terms.append(Term(base, prefix=len(base) >= 3))
        if len(terms) == MAX_TERMS:
            break
    return terms


def min_matches(terms: list[Term]) -> int:
    """How many of the query's terms a fact must contain to count as a lexical hit."""
    return max(1, math.ceil(len(terms) / 2))


def coverage(terms: list[Term], text: str) -> int:
    """How many ``terms`` occur in ``text`` (whole words, or word prefixes for prefix terms)."""
    tokens = set(words(text))
    count = 0
    for term in terms:
        if term.stem in tokens or (term.prefix and any(t.startswith(term.stem) for t in tokens)):
            count += 1
    return count
