"""SQL written once, for SQLite, rewritten mechanically for PostgreSQL (psycopg 3).

Store code writes SQL in the subset both engines share, with SQLite's parameter styles
(``?`` and ``:name``). The few SQLite spellings that the stores use and PostgreSQL lacks are
rewritten here, in one place, token by token (string literals, quoted identifiers and
comments are never touched):

=====================================  ===================================================
SQLite                                 PostgreSQL
=====================================  ===================================================
``?`` / ``:name``                      ``%s`` / ``%(name)s`` (a literal ``%`` becomes ``%%``)
``a IS b`` / ``a IS NOT b``            ``a IS NOT DISTINCT FROM b`` / ``IS DISTINCT FROM``
                                       (``IS [NOT] NULL|TRUE|FALSE`` are left alone)
``INSERT OR IGNORE INTO t ...``        ``INSERT INTO t ... ON CONFLICT DO NOTHING``
``json_each(x)`` (a JSON text array)   ``jsonb_array_elements_text(CAST(x AS jsonb))``,
                                       aliased so that its column is still ``value``
``INDEXED BY idx`` / ``NOT INDEXED``   dropped (planner hints PostgreSQL does not take)
``CROSS JOIN t ON c`` (order hint)     ``INNER JOIN t ON c``
=====================================  ===================================================

Anything else SQLite-only (``INSERT OR REPLACE``, ``rowid``, ``PRAGMA``) raises
``UnsupportedSQL`` at once, so a store that needs a per-engine statement says so clearly
instead of failing on a distant server with a syntax error.
"""

from __future__ import annotations

import functools
import re

_TOKEN = re.compile(
    r"""
    (?P<str>'(?:[^']|'')*')
  | (?P<ident>"(?:[^"]|"")*")
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<cast>::)
  | (?P<named>:[A-Za-z_][A-Za-z0-9_]*)
  | (?P<qmark>\?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_IS_KEEP = frozenset({"NULL", "TRUE", "FALSE", "DISTINCT", "UNKNOWN"})
_FORBIDDEN = {
    "ROWID": "rowid does not exist on PostgreSQL; use the table's key",
    "PRAGMA": "PRAGMA is SQLite-only",
}


class UnsupportedSQL(ValueError):
    """A statement uses a SQLite-only construct with no mechanical PostgreSQL spelling."""


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """The PostgreSQL (psycopg, ``%s``/``%(name)s``) spelling of ``sql``. Cached."""
    tokens = [(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(sql)]
    out: list[str] = []
    ignore_conflicts = False
    returning_at: int | None = None  # where ON CONFLICT goes when RETURNING follows
    depth = 0
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        upper = text.upper() if kind == "word" else ""
        if kind == "other" and text in "()":
            depth += 1 if text == "(" else -1
        if kind in ("qmark", "named"):
            out.append(_placeholder(kind, text))
        elif kind in ("str", "ident", "comment", "other") and "%" in text:
            out.append(text.replace("%", "%%"))
        elif upper in _FORBIDDEN:
            raise UnsupportedSQL(f"{_FORBIDDEN[upper]}: {sql[:120]!r}")
        elif upper == "INSERT" and _next_words(tokens, i, 1) == ["OR"]:
            if _next_words(tokens, i, 2) != ["OR", "IGNORE"]:
                raise UnsupportedSQL(f"INSERT OR ... needs an explicit ON CONFLICT: {sql[:120]!r}")
            out.append(text)
            i = _skip_words(tokens, i, 2)
            ignore_conflicts = True
        elif upper == "IS":
            replacement, skip = _null_safe(tokens, i)
            out.append(replacement)
            i = _skip_words(tokens, i, skip)
        elif upper == "INDEXED" and _next_words(tokens, i, 1) == ["BY"]:
            _drop_trailing_space(out)
            i = _skip_words(tokens, i, 2)  # INDEXED BY <index>
        elif upper == "NOT" and _next_words(tokens, i, 1) == ["INDEXED"]:
            _drop_trailing_space(out)
            i = _skip_words(tokens, i, 1)
        elif upper == "JSON_EACH":
            i = _json_each(tokens, i, out)
        elif upper == "CROSS" and _next_words(tokens, i, 1) == ["JOIN"] and _joins_on(tokens, i):
            out.append("INNER")  # SQLite's CROSS JOIN ... ON fixes the join order
        else:
            if upper == "RETURNING" and depth == 0:
                returning_at = len(out)
            out.append(text)
        i += 1
    if ignore_conflicts:
        at = len(out) if returning_at is None else returning_at
        while at and (out[at - 1].isspace() or out[at - 1] == ";"):
            at -= 1
        out[at:at] = [" ON CONFLICT DO NOTHING"]
    return "".join(out).rstrip().rstrip(";")


_CLAUSE_END = frozenset({"JOIN", "WHERE", "GROUP", "ORDER", "LIMIT", "UNION", "HAVING"})


def _joins_on(tokens: list[tuple[str, str]], i: int) -> bool:
    """Whether the join starting at ``i`` has an ``ON`` condition (at the same depth)."""
    depth, j = 0, _skip_words(tokens, i, 1)
    while j + 1 < len(tokens):
        j += 1
        kind, text = tokens[j]
        if kind == "other" and text in "()":
            depth += 1 if text == "(" else -1
            if depth < 0:
                return False
        elif kind == "word" and depth == 0:
            if text.upper() == "ON":
                return True
            if text.upper() in _CLAUSE_END:
                return False
    return False


def _placeholder(kind: str, text: str) -> str:
    return "%s" if kind == "qmark" else f"%({text[1:]})s"


def _next_words(tokens: list[tuple[str, str]], i: int, count: int) -> list[str]:
    """The upper-cased next ``count`` tokens after ``i`` that are not whitespace/comments."""
    found: list[str] = []
    j = i + 1
    while j < len(tokens) and len(found) < count:
        kind, text = tokens[j]
        if kind not in ("space", "comment"):
            found.append(text.upper())
        j += 1
    return found


def _skip_words(tokens: list[tuple[str, str]], i: int, count: int) -> int:
    """The index of the ``count``-th significant token after ``i`` (``i`` for 0)."""
    j = i
    while count:
        j += 1
        if tokens[j][0] not in ("space", "comment"):
            count -= 1
    return j


def _drop_trailing_space(out: list[str]) -> None:
    if out and out[-1].isspace():
        out.pop()


def _null_safe(tokens: list[tuple[str, str]], i: int) -> tuple[str, int]:
    """``IS x`` → ``IS NOT DISTINCT FROM x``; ``IS NOT x`` → ``IS DISTINCT FROM x``; tests of
    NULL/TRUE/FALSE and ``IS [NOT] DISTINCT FROM`` stay. Returns the text and the number of
    following tokens it replaces."""
    following = _next_words(tokens, i, 2)
    if not following or following[0] in _IS_KEEP:
        return tokens[i][1], 0
    if following[0] == "NOT":
        if len(following) < 2 or following[1] in _IS_KEEP:
            return tokens[i][1], 0
        return "IS DISTINCT FROM", 1
    return "IS NOT DISTINCT FROM", 0


def _json_each(tokens: list[tuple[str, str]], i: int, out: list[str]) -> int:
    """``json_each(arg) [AS alias]`` → a set of the array's text elements named ``value``.

    Returns the index of the last token consumed.
    """
    j = i + 1
    while j < len(tokens) and tokens[j][0] == "space":
        j += 1
    if j == len(tokens) or tokens[j][1] != "(":
        raise UnsupportedSQL("json_each must be called with one argument")
    depth, arg = 1, []
    while depth:
        j += 1
        kind, text = tokens[j]
        if kind == "other" and text in "()":
            depth += 1 if text == "(" else -1
        if depth:
            arg.append(_placeholder(kind, text) if kind in ("qmark", "named") else text)
    alias = "json_each"
    if _next_words(tokens, j, 1) == ["AS"]:
        j = _skip_words(tokens, j, 2)
        alias = tokens[j][1]
    out.append(f"jsonb_array_elements_text(CAST({''.join(arg)} AS jsonb)) AS {alias}(value)")
    return j
