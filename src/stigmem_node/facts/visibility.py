"""Who may see which fact: the one access rule every read path applies.

A ``ReadView`` is the moment of the read plus the gardens the caller may read. Garden-tagged
facts are visible only to members of their garden (CONTRACT §5: on every read path).
Contradictions never cross a garden boundary (rivals must share the fact's garden), so a
caller who can see a fact can also see everything that makes it contradicted.
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


def acl_sql(alias: str) -> str:
    """True when the caller of the current ``ReadView`` may see fact ``alias``."""
    return (
        f"({alias}.garden_id IS NULL OR :all_gardens = 1"
        f" OR {alias}.garden_id IN (SELECT value FROM json_each(:gardens)))"
    )
