"""Entity and source normalisation (wire reference §2.4).

A formal ``stigmem://authority/type/id`` URI is lowercased per component, with whitespace runs
in the id folded to ``-``; anything else is lowercased whole with whitespace runs folded.
"""

from __future__ import annotations

import re

_FORMAL = re.compile(r"^stigmem://([^/]+)/([^/]+)/(.+)$")
_SPACES = re.compile(r"\s+")


class InvalidEntityURI(ValueError):
    """The URI cannot be normalised; the message is upstream's ``invalid_entity_uri`` text."""


def normalise_uri(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise InvalidEntityURI("invalid_entity_uri: entity URI must not be empty")
    match = _FORMAL.match(text)
    if match is None:
        return _SPACES.sub("-", text.lower())
    authority, kind, ident = (part.strip() for part in match.groups())
    parts = [authority.lower(), kind.lower(), _SPACES.sub("-", ident).lower()]
    if not all(parts):
        raise InvalidEntityURI(
            f"invalid_entity_uri: produced empty component in formal URI: {text!r}"
        )
    authority, kind, ident = parts
    return f"stigmem://{authority}/{kind}/{ident}"


def is_reserved(name: str) -> bool:
    """``stigmem:`` names are the protocol's own (but ``stigmem://`` URIs are ordinary)."""
    return name.startswith("stigmem:") and not name.startswith("stigmem://")
