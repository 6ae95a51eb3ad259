"""Signed PeerDeclarations, byte-compatible with upstream.

A node joins a peer by POSTing its declaration: ``node_id``, ``node_url``,
``federation_pubkey``, ``allowed_scopes`` and ``signed_at``, signed with its federation key.
The signed bytes are ``json.dumps(obj, sort_keys=True, separators=(",", ":"))`` over exactly
those five keys with Python's default ``ensure_ascii=True`` (non-ASCII becomes ``\\uXXXX``).
That ASCII escaping is why this module does not use ``canonical.canonical_bytes`` (which keeps
UTF-8, as CIDs need). ``allowed_scopes`` is signed in the order it is sent, never re-sorted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stigmem_node.federation.keys import NodeKeys, verify_signature

SIGNED_AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def declaration_bytes(
    *,
    node_id: str,
    node_url: str,
    federation_pubkey: str,
    allowed_scopes: list[str],
    signed_at: str,
) -> bytes:
    body = {
        "allowed_scopes": allowed_scopes,
        "federation_pubkey": federation_pubkey,
        "node_id": node_id,
        "node_url": node_url,
        "signed_at": signed_at,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")


def format_signed_at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SIGNED_AT_FORMAT)


@dataclass(frozen=True, slots=True)
class Declaration:
    node_id: str
    node_url: str
    federation_pubkey: str
    allowed_scopes: list[str]
    signed_at: str
    declaration_sig: str = ""

    def signed_bytes(self) -> bytes:
        return declaration_bytes(
            node_id=self.node_id,
            node_url=self.node_url,
            federation_pubkey=self.federation_pubkey,
            allowed_scopes=self.allowed_scopes,
            signed_at=self.signed_at,
        )

    def verify(self, pubkey_text: str) -> bool:
        """True when ``declaration_sig`` signs these exact fields under ``pubkey_text``."""
        return verify_signature(pubkey_text, self.declaration_sig, self.signed_bytes())

    def to_body(self) -> dict[str, Any]:
        """The ``POST /v1/federation/peers`` body."""
        return {
            "node_id": self.node_id,
            "node_url": self.node_url,
            "federation_pubkey": self.federation_pubkey,
            "allowed_scopes": self.allowed_scopes,
            "signed_at": self.signed_at,
            "declaration_sig": self.declaration_sig,
        }


def sign_declaration(
    keys: NodeKeys, *, node_id: str, node_url: str, allowed_scopes: list[str], signed_at: str
) -> Declaration:
    """Our declaration, scopes sorted (as upstream's CLI sends them) and signed as sent."""
    unsigned = Declaration(node_id, node_url, keys.pubkey, sorted(set(allowed_scopes)), signed_at)
    return Declaration(
        unsigned.node_id,
        unsigned.node_url,
        unsigned.federation_pubkey,
        unsigned.allowed_scopes,
        unsigned.signed_at,
        keys.sign(unsigned.signed_bytes()),
    )
