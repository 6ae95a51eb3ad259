"""Who may see which fact: the one access rule every read path applies.

A ``ReadView`` is the moment of the read plus the gardens the caller may read. Garden-tagged
facts are visible only to members of their garden (CONTRACT §5: on every read path).
Contradictions never cross a garden boundary (rivals must share the fact's garden), so a
caller who can see a fact can also see everything that makes it contradicted.

A fact written into a quarantine garden is *held* (``fact_quarantine.status = 'pending'``)
until a moderator promotes or rejects it: held facts are invisible to every normal read, even
the node admin's, and are not live (they retract nothing and contradict nothing). Held facts
always carry their quarantine garden's id, so ``shareable_sql`` (no garden) excludes them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class ReadView:
    now: str
    gardens: frozenset[str] | None = frozenset()  # None: every garden (the node itself)

    def params(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "all_gardens": 1 if self.gardens is None else 0,
            "gardens": orjson.dumps(sorted(self.gardens or ())).decode(),
        }

    def can_see_garden(self, garden_id: str | None) -> bool:
        return garden_id is None or self.gardens is None or garden_id in self.gardens

    def can_see(self, record: dict[str, Any]) -> bool:
        """The Python twin of ``acl_sql`` for one wire FactRecord."""
        return record.get("quarantine_status") != "pending" and self.can_see_garden(
            record.get("garden_id")
        )


def held_sql(alias: str) -> str:
    """True when fact ``alias`` is held for moderation in a quarantine garden."""
    return (
        f"EXISTS (SELECT 1 FROM fact_quarantine q"
        f" WHERE q.fact_id = {alias}.id AND q.status = 'pending')"
    )


def acl_sql(alias: str) -> str:
    """True when the caller of the current ``ReadView`` may see fact ``alias``.

    Untagged facts short-circuit, so the garden and quarantine checks cost nothing for them.
    """
    return (
        f"({alias}.garden_id IS NULL OR ((:all_gardens = 1"
        f" OR {alias}.garden_id IN (SELECT value FROM json_each(:gardens)))"
        f" AND NOT {held_sql(alias)}))"
    )


def shareable_sql(alias: str) -> str:
    """True when fact ``alias`` may leave the node (federation, relay, push).

    Garden-tagged facts never federate (CONTRACT §5), and every held (quarantined) fact is
    garden-tagged, so this one test keeps both on the node.
    """
    return f"{alias}.garden_id IS NULL"
