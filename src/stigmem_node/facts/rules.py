"""The rules every read path applies, as SQL fragments, and the wire record of a row.

* a fact is **live** when its confidence is above 0, it has not expired (its projected
  expiry: a decay override wins over the row) and it has not been retracted
  (``fact_retractions``), and it is not held for moderation;
* a live fact is **contradicted** when another live fact of the same garden has the same
  (entity, relation, scope) and a different value; reserved ``stigmem:`` names never are;
* a contradicted fact is **beaten** when a contradicting fact is preferred to it (higher
  confidence, then higher HLC); default queries hide beaten facts (query-time resolution).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from stigmem_node.facts.uri import is_reserved
from stigmem_node.facts.values import decode_v
from stigmem_node.facts.visibility import held_sql

if TYPE_CHECKING:
    from stigmem_node.facts.store import AssertOutcome, NewFact

COLUMNS = (
    "f.seq, f.id, f.entity, f.relation, f.value_type, f.value_v, f.interpret_as, f.source,"
    " f.timestamp, f.hlc, f.received_from,"
    " COALESCE((SELECT o.valid_until FROM fact_validity_overrides o WHERE o.fact_id = f.id),"
    " f.valid_until), f.confidence, f.scope,"
    " f.attested_key_id, f.origin_node_id, f.origin_allowed_scopes, f.garden_id, f.cid,"
    " f.derived_from,"
    # Only garden-tagged facts can be held for moderation: untagged rows skip the lookup.
    " CASE WHEN f.garden_id IS NULL THEN NULL"
    " ELSE (SELECT q.status FROM fact_quarantine q WHERE q.fact_id = f.id) END"
)


def valid_until_sql(alias: str) -> str:
    """The projected expiry of fact ``alias``: a validity override (decay) wins over the row."""
    return (
        f"COALESCE((SELECT o.valid_until FROM fact_validity_overrides o"
        f" WHERE o.fact_id = {alias}.id), {alias}.valid_until_utc)"
    )


def not_expired_sql(alias: str) -> str:
    """SQL that is true when fact ``alias`` has no projected expiry at or before ``:now``."""
    return f"COALESCE({valid_until_sql(alias)}, '9999') > :now"


def live_sql(alias: str) -> str:
    """SQL that is true when fact ``alias`` is live at ``:now``."""
    return (
        f"{alias}.confidence > 0"
        f" AND {not_expired_sql(alias)}"
        f" AND NOT EXISTS (SELECT 1 FROM fact_retractions r WHERE r.fact_id = {alias}.id)"
        # A fact held in quarantine has no effect until promoted (only gardens hold facts).
        f" AND ({alias}.garden_id IS NULL OR NOT {held_sql(alias)})"
    )


# Where rivals are looked up (``INDEXED BY``; PostgreSQL's planner chooses for itself). A
# rival shares the fact's (entity, relation, scope), which both indexes lead with:
TRIPLE_INDEX = "facts_triple"  # for facts found by entity: the probe lands on pages just read
# for facts found by relation (migration 0009): the probes of one relation share one range of
# it, and it holds what ``live_sql`` reads of a rival, so a probe reads no table row
RELATION_INDEX = "facts_relation_rules"


def _rival_sql(alias: str, extra: str = "", index: str = TRIPLE_INDEX) -> str:
    # ``g.seq <> f.seq`` changes nothing (a fact never differs from itself in value), but it
    # is answered from the index entry: the probe then reads no table row for the fact itself,
    # which on a triple with one fact (the usual case) is the only row it finds.
    return (
        f"EXISTS (SELECT 1 FROM facts g INDEXED BY {index}"
        f" WHERE g.entity = {alias}.entity AND g.relation = {alias}.relation"
        f" AND g.scope = {alias}.scope AND g.garden_id IS {alias}.garden_id"
        f" AND g.seq <> {alias}.seq"
        f" AND (g.value_type <> {alias}.value_type OR g.value_v <> {alias}.value_v)"
        f" AND {live_sql('g')}{extra})"
    )


def contradicted_sql(alias: str = "f", index: str = TRIPLE_INDEX) -> str:
    """True when fact ``alias`` is contradicted (rivals looked up through ``index``)."""
    return f"({alias}.reserved = 0 AND {live_sql(alias)} AND {_rival_sql(alias, index=index)})"


def beaten_sql(alias: str = "f", index: str = TRIPLE_INDEX) -> str:
    """True when fact ``alias`` is beaten (rivals looked up through ``index``)."""
    preferred = (
        f" AND (g.confidence > {alias}.confidence"
        f" OR (g.confidence = {alias}.confidence AND g.hlc > {alias}.hlc))"
    )
    rival = _rival_sql(alias, preferred, index)
    return f"({alias}.reserved = 0 AND {alias}.confidence > 0 AND {rival})"


def select_record(index: str = TRIPLE_INDEX) -> str:
    """``SELECT <record columns> FROM facts f``, rivals looked up through ``index``."""
    return f"SELECT {COLUMNS}, {contradicted_sql('f', index)} AS contradicted FROM facts f"


SELECT_RECORD = select_record()


def to_record(row: tuple[Any, ...], warnings: list[str] | None = None) -> dict[str, Any]:
    """A stored row (``SELECT_RECORD`` column order) as the 26-field wire FactRecord."""
    (
        _seq, fact_id, entity, relation, value_type, value_v, interpret_as, source,
        timestamp, hlc, received_from, valid_until, confidence, scope, attested_key_id,
        origin_node_id, origin_allowed_scopes, garden_id, cid, derived_from,
        quarantine_status, contradicted,
    ) = row  # fmt: skip
    return {
        "id": fact_id,
        "entity": entity,
        "relation": relation,
        "value": {
            "type": value_type,
            "v": decode_v(value_type, value_v),
            "interpret_as": interpret_as,
        },
        "source": source,
        "timestamp": timestamp,
        "hlc": hlc,
        "received_from": received_from,
        "valid_until": valid_until,
        "confidence": confidence,
        "scope": scope,
        "attested_key_id": attested_key_id,
        "origin_node_id": origin_node_id,
        "origin_allowed_scopes": (
            orjson.loads(origin_allowed_scopes) if origin_allowed_scopes else None
        ),
        "garden_id": garden_id,
        "attested": None,
        "contradicted": bool(contradicted),
        "warnings": warnings or [],
        "source_trust": None,
        "quarantine_status": quarantine_status,
        "quarantine_garden_id": garden_id if quarantine_status else None,
        "effective_confidence": None,
        "sanitizer_warnings": [],
        "sanitizer_redacted": False,
        "cid": cid,
        "derived_from": orjson.loads(derived_from) if derived_from else [],
    }


BARE_RELATION_WARNING = (
    "bare relation '{relation}' has no namespace prefix; rename to 'your-prefix:{relation}' to"
    " prevent silent collisions (see relation-convention.md)"
)
RESERVED_RELATION_WARNING = (
    "relation '{relation}' uses the reserved 'stigmem:' prefix; it is for protocol metadata"
)


def relation_warnings(relation: str) -> list[str]:
    if is_reserved(relation):
        return [RESERVED_RELATION_WARNING.format(relation=relation)]
    if ":" not in relation:
        return [BARE_RELATION_WARNING.format(relation=relation)]
    return []


def finish_record(fact: NewFact, outcome: AssertOutcome) -> dict[str, Any]:
    """The record an assert answers: a new fact carries its relation warnings, and is
    contradicted exactly when its write opened conflicts."""
    if outcome.created:
        outcome.record["warnings"] = relation_warnings(fact.relation)
        if outcome.conflict_ids:
            outcome.record["contradicted"] = True
    return outcome.record
