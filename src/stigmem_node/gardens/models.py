"""Wire models and records of gardens, members and quarantine holds (upstream's shapes)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stigmem_node.facts.models import Scope

Role = Literal["admin", "writer", "reader", "quarantine:moderator"]
HoldStatus = Literal["pending", "promoted", "rejected"]

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}$")
SLUG_ERROR = "slug must match ^[a-z0-9][a-z0-9\\-]{0,62}$"

WRITE_ROLES = frozenset({"admin", "writer"})
MODERATOR_ROLES = frozenset({"admin", "quarantine:moderator"})


def _clean(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


class GardenCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    slug: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=1024)
    scope: Scope = "company"
    description: str | None = Field(default=None, max_length=4096)
    quarantine: bool = False

    @field_validator("name", "description")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _clean(value)


class MemberAdd(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entity_uri: str = Field(min_length=1, max_length=2048)
    role: Role = "reader"

    @field_validator("entity_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return _clean(value)


class MemberPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fact_id: str = Field(min_length=1, max_length=256)
    target_garden_id: str | None = Field(
        default=None, max_length=2048, description="Target garden (uuid, slug or URI); null = none"
    )
    reason: str = Field(default="", max_length=4096)


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fact_id: str = Field(min_length=1, max_length=256)
    reason: str = Field(default="", max_length=4096)


class MemberOut(BaseModel):
    entity_uri: str
    role: str
    added_by: str
    added_at: str


class GardenOut(BaseModel):
    id: str
    garden_id: str
    slug: str
    name: str
    scope: str
    description: str | None
    created_by: str
    created_at: str
    members: list[MemberOut]
    quarantine: bool


class HoldOut(BaseModel):
    fact_id: str
    entity: str
    relation: str
    source: str
    quarantine_status: str
    quarantine_garden_id: str | None
    quarantine_reason: str | None
    quarantine_acted_by: str | None
    quarantine_acted_at: str | None
    source_trust: float | None
    received_from: str | None
    timestamp: str


class HoldPage(BaseModel):
    items: list[HoldOut]
    total: int


class ActionOut(BaseModel):
    fact_id: str
    action: str
    target_garden_id: str | None = None
    promoted_fact_id: str | None = None
    acted_by: str
    acted_at: str


@dataclass(frozen=True, slots=True)
class Garden:
    """One stored garden."""

    id: str
    slug: str
    name: str
    scope: str
    description: str | None
    quarantine: bool
    created_by: str
    created_at: str
    tenant_id: str

    def uri(self, authority: str) -> str:
        return f"stigmem://{authority}/garden/{self.slug}"

    def record(self, authority: str, members: list[dict[str, Any]]) -> dict[str, Any]:
        """The wire GardenRecord (field order as upstream)."""
        return {
            "id": self.id,
            "garden_id": self.uri(authority),
            "slug": self.slug,
            "name": self.name,
            "scope": self.scope,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "members": members,
            "quarantine": self.quarantine,
        }


def garden_ref(text: str) -> tuple[str, str] | None:
    """How ``text`` names a garden: ``("slug", s)`` or ``("slug_or_id", s)``; None if it can't.

    A ``stigmem://<authority>/garden/<slug>`` URI names its slug; the authority is ignored
    (gardens are found by slug, as upstream does). A bare word is a slug or a garden uuid.
    """
    if "/garden/" in text:
        slug = text.split("/garden/", 1)[1].rstrip("/").lower()
        return ("slug", slug) if SLUG_RE.match(slug) else None
    word = text.strip().lower()
    return ("slug_or_id", word) if SLUG_RE.match(word) else None
