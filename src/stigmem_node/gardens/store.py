"""SQL for gardens and their members. ``*_txn`` functions never commit.

Every membership change writes, in its own transaction, the ``garden:`` metadata facts that
mirror it (spec §17.6) and an audit event naming who did it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from stigmem_node.audit.log import record_txn
from stigmem_node.clock import format_ts
from stigmem_node.db import Cursor
from stigmem_node.errors import Conflict, Forbidden, NotFound
from stigmem_node.facts import store as facts
from stigmem_node.facts.store import NewFact, WriteContext
from stigmem_node.gardens.models import Garden

_GARDEN_COLS = "id, slug, name, scope, description, quarantine, created_by, created_at, tenant_id"
LAST_ADMIN = "cannot remove or demote the last admin; promote another member first"


@dataclass(frozen=True, slots=True)
class GardenCtx:
    """What garden writes need: the facts write context and the node's URI authority."""

    ctx: WriteContext
    authority: str


def _garden(row: tuple[Any, ...]) -> Garden:
    gid, slug, name, scope, description, quarantine, created_by, created_at, tenant = row
    return Garden(
        gid, slug, name, scope, description, bool(quarantine), created_by, created_at, tenant
    )


# -- reads --------------------------------------------------------------------------------
def find_garden_txn(cur: Cursor, tenant: str, kind: str, key: str) -> Garden | None:
    """The garden named by ``garden_ref``'s ``(kind, key)`` in ``tenant``."""
    # A slug wins over an id equal to it (a slug may look like a uuid).
    match = "slug = :key" if kind == "slug" else "(slug = :key OR id = :key)"
    row = cur.execute(
        f"SELECT {_GARDEN_COLS} FROM gardens WHERE tenant_id = :tenant AND {match}"
        " ORDER BY slug <> :key LIMIT 1",
        {"tenant": tenant, "key": key},
    ).fetchone()
    return _garden(row) if row else None


def find_with_role_txn(
    cur: Cursor, tenant: str, kind: str, key: str, entity_uri: str
) -> tuple[Garden | None, str | None]:
    """A garden and ``entity_uri``'s role in it, in one read."""
    garden = find_garden_txn(cur, tenant, kind, key)
    return garden, (role_txn(cur, garden.id, entity_uri) if garden else None)


def role_txn(cur: Cursor, garden_id: str, entity_uri: str) -> str | None:
    row = cur.execute(
        "SELECT role FROM garden_members WHERE garden_id = ? AND entity_uri = ?",
        (garden_id, entity_uri),
    ).fetchone()
    return str(row[0]) if row else None


def member_gardens_txn(cur: Cursor, entity_uri: str) -> list[str]:
    """Ids of every garden ``entity_uri`` holds any role in (the read ACL)."""
    rows = cur.execute(
        "SELECT garden_id FROM garden_members WHERE entity_uri = ?", (entity_uri,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def list_gardens_txn(cur: Cursor, tenant: str, member: str | None) -> list[Garden]:
    """Every garden of ``tenant``, or only those ``member`` belongs to."""
    if member is None:
        rows = cur.execute(
            f"SELECT {_GARDEN_COLS} FROM gardens WHERE tenant_id = ? ORDER BY created_at, id",
            (tenant,),
        ).fetchall()
    else:
        rows = cur.execute(
            f"SELECT {_GARDEN_COLS} FROM gardens g WHERE g.tenant_id = ? AND EXISTS"
            " (SELECT 1 FROM garden_members m WHERE m.garden_id = g.id AND m.entity_uri = ?)"
            " ORDER BY g.created_at, g.id",
            (tenant, member),
        ).fetchall()
    return [_garden(r) for r in rows]


def members_txn(cur: Cursor, garden_id: str) -> list[dict[str, Any]]:
    rows = cur.execute(
        "SELECT entity_uri, role, added_by, added_at FROM garden_members"
        " WHERE garden_id = ? ORDER BY added_at, entity_uri",
        (garden_id,),
    ).fetchall()
    return [{"entity_uri": u, "role": r, "added_by": b, "added_at": a} for u, r, b, a in rows]


def get_member_txn(cur: Cursor, garden_id: str, entity_uri: str) -> dict[str, Any] | None:
    row = cur.execute(
        "SELECT entity_uri, role, added_by, added_at FROM garden_members"
        " WHERE garden_id = ? AND entity_uri = ?",
        (garden_id, entity_uri),
    ).fetchone()
    return (
        dict(zip(("entity_uri", "role", "added_by", "added_at"), row, strict=True)) if row else None
    )


# -- writes -------------------------------------------------------------------------------
def create_garden_txn(cur: Cursor, gc: GardenCtx, garden: Garden) -> dict[str, Any]:
    """Insert ``garden`` with its creator as admin; 409 when the slug is taken."""
    taken = cur.execute(
        "SELECT 1 FROM gardens WHERE tenant_id = ? AND slug = ?", (garden.tenant_id, garden.slug)
    ).fetchone()
    if taken:
        raise Conflict("slug already exists")
    cur.execute(
        f"INSERT INTO gardens ({_GARDEN_COLS}) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            garden.id, garden.slug, garden.name, garden.scope, garden.description,
            int(garden.quarantine), garden.created_by, garden.created_at, garden.tenant_id,
        ),
    )  # fmt: skip
    _insert_member(cur, gc, garden, garden.created_by, "admin", garden.created_by)
    record_txn(
        cur,
        garden.created_at,
        "garden_created",
        entity_uri=garden.created_by,
        detail={"garden_id": garden.id, "slug": garden.slug, "quarantine": garden.quarantine},
    )
    return garden.record(gc.authority, members_txn(cur, garden.id))


def delete_garden_txn(cur: Cursor, gc: GardenCtx, garden: Garden, actor: str) -> None:
    """Delete ``garden`` and end its memberships; its facts stay.

    409 ``quarantine_has_pending_facts`` while a quarantine garden still holds facts.
    """
    pending = cur.execute(
        "SELECT 1 FROM fact_quarantine WHERE garden_id = ? AND status = 'pending' LIMIT 1",
        (garden.id,),
    ).fetchone()
    if pending:
        raise Conflict("quarantine_has_pending_facts")
    now = format_ts(gc.ctx.clock.now())
    members = members_txn(cur, garden.id)
    for member in members:
        _membership_facts(cur, gc, garden, member["entity_uri"], member["role"], actor, 0.0)
    cur.execute("DELETE FROM gardens WHERE id = ?", (garden.id,))
    record_txn(
        cur,
        now,
        "garden_deleted",
        entity_uri=actor,
        detail={"garden_id": garden.id, "slug": garden.slug, "members": len(members)},
    )


def add_member_txn(
    cur: Cursor, gc: GardenCtx, garden: Garden, entity_uri: str, role: str, actor: str
) -> dict[str, Any]:
    """Add a member; 409 when ``entity_uri`` already holds a role."""
    existing = role_txn(cur, garden.id, entity_uri)
    if existing is not None:
        raise Conflict(
            f"entity is already a member with role '{existing}'; use PATCH to change role"
        )
    member = _insert_member(cur, gc, garden, entity_uri, role, actor)
    _audit_member(cur, member["added_at"], "garden_member_added", garden, actor, entity_uri, role)
    return member


def set_role_txn(
    cur: Cursor, gc: GardenCtx, garden: Garden, entity_uri: str, role: str, actor: str
) -> dict[str, Any]:
    """Change a member's role; 404 unknown member, 403 demoting the last admin."""
    member = get_member_txn(cur, garden.id, entity_uri)
    if member is None:
        raise NotFound("member not found")
    old = member["role"]
    if old == role:
        return member
    if old == "admin":
        _guard_last_admin(cur, garden.id)
    cur.execute(
        "UPDATE garden_members SET role = ? WHERE garden_id = ? AND entity_uri = ?",
        (role, garden.id, entity_uri),
    )
    # The old role fact is retracted before the new one is asserted, so the two never rival.
    _fact(cur, gc, garden, f"garden:role:{entity_uri}", "string", old, actor, 0.0)
    _fact(cur, gc, garden, f"garden:role:{entity_uri}", "string", role, actor, 1.0)
    now = format_ts(gc.ctx.clock.now())
    _audit_member(cur, now, "garden_member_updated", garden, actor, entity_uri, role, old)
    return {**member, "role": role}


def remove_member_txn(
    cur: Cursor, gc: GardenCtx, garden: Garden, entity_uri: str, actor: str
) -> None:
    """Remove a member; 404 unknown member, 403 removing the last admin."""
    member = get_member_txn(cur, garden.id, entity_uri)
    if member is None:
        raise NotFound("member not found")
    if member["role"] == "admin":
        _guard_last_admin(cur, garden.id)
    cur.execute(
        "DELETE FROM garden_members WHERE garden_id = ? AND entity_uri = ?",
        (garden.id, entity_uri),
    )
    _membership_facts(cur, gc, garden, entity_uri, member["role"], actor, 0.0)
    now = format_ts(gc.ctx.clock.now())
    _audit_member(cur, now, "garden_member_removed", garden, actor, entity_uri, member["role"])


# -- helpers ------------------------------------------------------------------------------
def _guard_last_admin(cur: Cursor, garden_id: str) -> None:
    admins = cur.execute(
        "SELECT COUNT(*) FROM garden_members WHERE garden_id = ? AND role = 'admin'",
        (garden_id,),
    ).fetchone()[0]
    if admins <= 1:
        raise Forbidden(LAST_ADMIN)


def _insert_member(
    cur: Cursor, gc: GardenCtx, garden: Garden, entity_uri: str, role: str, actor: str
) -> dict[str, Any]:
    now = format_ts(gc.ctx.clock.now())
    cur.execute(
        "INSERT INTO garden_members (garden_id, entity_uri, role, added_by, added_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (garden.id, entity_uri, role, actor, now),
    )
    _membership_facts(cur, gc, garden, entity_uri, role, actor, 1.0)
    return {"entity_uri": entity_uri, "role": role, "added_by": actor, "added_at": now}


def _membership_facts(
    cur: Cursor,
    gc: GardenCtx,
    garden: Garden,
    entity_uri: str,
    role: str,
    actor: str,
    confidence: float,
) -> None:
    """Assert (1.0) or retract (0.0) the two facts that say ``entity_uri`` is a member."""
    _fact(cur, gc, garden, "garden:member", "ref", entity_uri, actor, confidence)
    _fact(cur, gc, garden, f"garden:role:{entity_uri}", "string", role, actor, confidence)


def _fact(
    cur: Cursor,
    gc: GardenCtx,
    garden: Garden,
    relation: str,
    value_type: str,
    value: str,
    actor: str,
    confidence: float,
) -> None:
    # Tagged with the garden itself: only its members (and node admins) see who belongs.
    facts.assert_fact_txn(
        cur,
        gc.ctx,
        NewFact(
            entity=garden.uri(gc.authority), relation=relation, value_type=value_type,
            value_v=value, source=gc.ctx.system_source, confidence=confidence,
            scope=garden.scope, garden_id=garden.id, writer=actor,
        ),
    )  # fmt: skip


def _audit_member(
    cur: Cursor,
    now: str,
    event: str,
    garden: Garden,
    actor: str,
    member: str,
    role: str,
    old_role: str | None = None,
) -> None:
    detail: dict[str, Any] = {"garden_id": garden.id, "member": member, "role": role}
    if old_role is not None:
        detail["old_role"] = old_role
    record_txn(cur, now, event, entity_uri=actor, detail=detail)


def new_garden(
    slug: str, name: str, scope: str, description: str | None, quarantine: bool,
    creator: str, created_at: str, tenant: str,
) -> Garden:  # fmt: skip
    return Garden(
        str(uuid.uuid4()), slug, name, scope, description, quarantine, creator, created_at, tenant
    )
