"""Who is calling, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from stigmem_node.errors import Forbidden

PERMISSIONS = frozenset(
    {"read", "write", "federate", "admin:federation", "admin", "audit.read", "instruction:write"}
)
ANONYMOUS_PERMISSIONS = frozenset({"read", "write", "federate"})


@dataclass(frozen=True, slots=True)
class Caller:
    entity_uri: str
    permissions: frozenset[str]
    key_id: str | None = None
    oidc_sub: str | None = None
    tenant_id: str = "default"

    def has(self, permission: str) -> bool:
        """Unlike upstream, ``admin`` implies every other permission."""
        return permission in self.permissions or "admin" in self.permissions

    def require(self, permission: str, message: str | None = None) -> None:
        if not self.has(permission):
            raise Forbidden(message or f"{permission} permission required")


ANONYMOUS = Caller(entity_uri="anon:trusted", permissions=ANONYMOUS_PERMISSIONS)
