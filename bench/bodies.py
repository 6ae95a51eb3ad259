"""Realistic, distinct fact bodies shared by the load generator and the data loader.

Facts look like what agents write: namespaced relations, a mix of value types, a handful of
sources and scopes. Every (entity, relation, scope) triple produced here is unique, so the
bench never creates contradictions by accident (those are a separate code path).
"""

from __future__ import annotations

from typing import Any

RELATIONS: tuple[str, ...] = tuple(
    f"{ns}:{name}"
    for ns, names in (
        ("pref", ("color", "language", "timezone", "editor", "theme", "units")),
        ("org", ("member_of", "reports_to", "team", "role", "office", "cost_center")),
        ("memory", ("summary", "last_topic", "open_question", "decision", "note")),
        ("intent", ("goal", "next_step", "blocker", "deadline")),
        ("rel", ("knows", "works_with", "owns", "depends_on", "mentions")),
        ("roadmap", ("milestone", "status", "owner", "priority", "risk")),
        ("project", ("repo", "language", "license", "ci", "stage", "budget")),
        ("profile", ("name", "email", "city", "country", "birthday", "active")),
        ("metric", ("score", "latency_ms", "errors", "uptime", "cost")),
    )
    for name in names
)
FACTS_PER_ENTITY = 10  # consecutive facts share an entity, each with its own relation
SOURCES: tuple[str, ...] = tuple(f"agent:assistant-{i:02d}" for i in range(40))
SCOPES: tuple[str, ...] = ("company", "company", "team", "public", "local")
_WORDS: tuple[str, ...] = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra",
    "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
)  # fmt: skip


def entity_for(prefix: str, n: int) -> str:
    """The entity of the ``n``-th fact of a stream: one entity per ``FACTS_PER_ENTITY``."""
    return f"user:{prefix}-{n // FACTS_PER_ENTITY:07d}"


def relation_for(n: int) -> str:
    # Consecutive facts of one entity take consecutive relations: triples never repeat.
    return RELATIONS[(n // FACTS_PER_ENTITY * 7 + n % FACTS_PER_ENTITY) % len(RELATIONS)]


def value_for(n: int, tag: str) -> dict[str, Any]:
    """A value whose type cycles through the common ones; strings carry ``tag`` for unicity."""
    kind = n % 5
    if kind == 0:
        return {"type": "number", "v": n % 100_000}
    if kind == 1:
        return {"type": "boolean", "v": n % 2 == 0}
    if kind == 2:
        words = " ".join(_WORDS[(n + i) % len(_WORDS)] for i in range(24))
        return {"type": "text", "v": f"{words} ({tag}-{n})"}
    if kind == 3:
        return {"type": "ref", "v": f"stigmem://acme/doc/{tag}-{n}"}
    return {"type": "string", "v": f"{_WORDS[n % len(_WORDS)]}-{tag}-{n}"}


def fact_body(prefix: str, n: int) -> dict[str, Any]:
    """The ``n``-th fact of the stream ``prefix`` as a ``POST /v1/facts`` body."""
    return {
        "entity": entity_for(prefix, n),
        "relation": relation_for(n),
        "value": value_for(n, prefix),
        "source": SOURCES[n % len(SOURCES)],
        "confidence": 0.9 if n % 3 else 1.0,
        "scope": SCOPES[n % len(SCOPES)],
    }
