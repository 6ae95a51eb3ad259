"""Content identifiers, byte-identical to the reference node (wire reference §2.5)."""

from __future__ import annotations

import re

from stigmem_node.canonical import canonical_bytes, sha256_hex

CID_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def compute_cid(
    *,
    entity: str,
    relation: str,
    value_type: str,
    value_v: str,
    source: str,
    confidence: float,
    scope: str,
) -> str:
    """``sha256:`` + SHA-256 of the canonical JSON of the content fields.

    ``entity``/``source`` are the normalised forms and ``value_v`` the stored encoding;
    ``confidence`` is hashed as a Python float (``1`` → ``1.0``).
    """
    body = {
        "confidence": float(confidence),
        "entity": entity,
        "relation": relation,
        "scope": scope,
        "source": source,
        "value_type": value_type,
        "value_v": value_v,
    }
    return "sha256:" + sha256_hex(canonical_bytes(body))


def is_cid(text: str) -> bool:
    return text.startswith("sha256:")
