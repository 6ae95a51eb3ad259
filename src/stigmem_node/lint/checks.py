"""The five lint checks, as pure functions over one batch of entities' facts.

Severities (protocol lint rules; never downgraded): unresolved contradiction → error;
expired fact → warning; fact expiring within the lookahead → info; orphaned entity → info;
broken reference → warning, or error for intent routing relations; bare relation → warning.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stigmem_node.facts.uri import InvalidEntityURI, normalise_uri
from stigmem_node.lint.models import CHECKS
from stigmem_node.lint.store import LintRow

# A broken reference on these relations breaks an agent hand-off: an error, not a warning.
INTENT_ROUTING = frozenset({"intent:handoff_to", "intent:context_ref"})
MAX_FACT_IDS = 100  # per finding: enough to act on, bounded for huge orphans
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
_CHECK_RANK = {check: index for index, check in enumerate(CHECKS)}


@dataclass(frozen=True, slots=True)
class Window:
    now: str
    horizon: str | None  # now + lookahead, when a lookahead was asked for
    scope: str


def finding(
    check: str, severity: str, entity: str, relation: str | None, ids: Iterable[str], detail: str
) -> dict[str, Any]:
    return {
        "check": check,
        "severity": severity,
        "entity": entity,
        "relation": relation,
        "fact_ids": sorted(ids)[:MAX_FACT_IDS],
        "detail": detail,
    }


def sort_key(item: dict[str, Any]) -> tuple[Any, ...]:
    """Deterministic order: severity, check, entity, relation, fact ids."""
    return (
        _SEVERITY_RANK[item["severity"]],
        _CHECK_RANK[item["check"]],
        item["entity"],
        item["relation"] or "",
        item["fact_ids"],
    )


def contradictions(rows: list[LintRow]) -> list[dict[str, Any]]:
    """Live facts on one (entity, relation) in one garden that disagree on the value."""
    groups: dict[tuple[str, str, str | None], list[LintRow]] = defaultdict(list)
    for row in rows:
        if row.live:
            groups[(row.entity, row.relation, row.garden_id)].append(row)
    out = []
    for (entity, relation, _), members in groups.items():
        values = sorted({(m.value_type, m.value_v) for m in members})
        if len(values) > 1:
            shown = ", ".join(repr(v) for _, v in values[:5])
            more = f" and {len(values) - 5} more" if len(values) > 5 else ""
            detail = f"{len(values)} live values disagree on {relation}: {shown}{more}"
            out.append(
                finding("contradiction", "error", entity, relation, (m.id for m in members), detail)
            )
    return out


def stale(rows: list[LintRow], window: Window) -> list[dict[str, Any]]:
    """Unretracted facts already expired (warning) or expiring within the lookahead (info)."""
    out = []
    for row in rows:
        if row.retracted or row.confidence <= 0 or row.valid_until is None:
            continue
        if row.valid_until <= window.now:
            detail = f"expired at {row.valid_until}"
            out.append(finding("stale", "warning", row.entity, row.relation, [row.id], detail))
        elif window.horizon is not None and row.valid_until <= window.horizon:
            detail = f"expires at {row.valid_until}, within the lookahead window"
            out.append(finding("stale", "info", row.entity, row.relation, [row.id], detail))
    return out


def orphans(rows: list[LintRow], window: Window) -> list[dict[str, Any]]:
    """Entities none of whose facts is still live."""
    by_entity: dict[str, list[LintRow]] = defaultdict(list)
    for row in rows:
        by_entity[row.entity].append(row)
    out = []
    for entity, members in by_entity.items():
        if not any(m.live for m in members):
            detail = f"no live facts remain for this entity in scope '{window.scope}'"
            out.append(finding("orphan", "info", entity, None, (m.id for m in members), detail))
    return out


def ref_targets(rows: list[LintRow]) -> dict[str, str | None]:
    """Live ref facts' ids → their normalised target (None when it cannot be normalised)."""
    targets: dict[str, str | None] = {}
    for row in rows:
        if row.live and row.value_type == "ref":
            try:
                targets[row.id] = normalise_uri(row.value_v)
            except InvalidEntityURI:
                targets[row.id] = None
    return targets


def broken_refs(
    rows: list[LintRow], targets: dict[str, str | None], live: set[str], window: Window
) -> list[dict[str, Any]]:
    """Live ref facts whose target has no live fact (visible to the caller) in the scope."""
    out = []
    for row in rows:
        if row.id not in targets:
            continue
        target = targets[row.id]
        if target is not None and target in live:
            continue
        severity = "error" if row.relation in INTENT_ROUTING else "warning"
        detail = f"ref target '{row.value_v}' has no live facts in scope '{window.scope}'"
        out.append(finding("broken_ref", severity, row.entity, row.relation, [row.id], detail))
    return out


def namespacing(rows: list[LintRow]) -> list[dict[str, Any]]:
    """Live facts whose relation has no ``prefix:`` namespace, one finding per relation."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        if row.live and ":" not in row.relation:
            groups[(row.entity, row.relation)].append(row.id)
    return [
        finding(
            "namespacing", "warning", entity, relation, ids,
            f"bare relation '{relation}' has no namespace prefix;"
            f" rename to 'your-prefix:{relation}'",
        )
        for (entity, relation), ids in groups.items()
    ]  # fmt: skip
