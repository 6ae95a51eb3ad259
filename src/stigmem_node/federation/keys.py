"""The node's federation identity: an Ed25519 keypair, advertised as unpadded base64url.

The pair comes from ``STIGMEM_FEDERATION_PRIVKEY`` (the raw 32-byte seed, base64url, padded or
not; ``STIGMEM_FEDERATION_PUBKEY`` is then only checked against it) or is generated once and
kept in ``node_meta`` (``federation_pubkey`` / ``federation_privkey``, upstream's layout).
The public key is always *advertised* unpadded, whatever form the operator supplied, because
peers pin the text and fingerprint it (``sha256:`` + SHA-256 of that text).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stigmem_node.db import Cursor

log = logging.getLogger("stigmem.federation")

KEY_BYTES = 32
SIGNATURE_BYTES = 64


class InvalidKey(ValueError):
    """A configured or stored key is not a valid base64url Ed25519 key."""


def b64url_encode(raw: bytes) -> str:
    """Base64url without padding (upstream's form for keys and signatures)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; raise ``ValueError`` for anything else."""
    text = text.strip()
    if not text or len(text) > 4096 or any(c in text for c in "+/ \n\t"):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def fingerprint(pubkey_text: str) -> str:
    """Upstream's approval fingerprint: a hash of the key *text* as pinned."""
    return "sha256:" + hashlib.sha256(pubkey_text.encode("utf-8")).hexdigest()


def public_key_from_text(pubkey_text: str) -> Ed25519PublicKey:
    """Raise ``ValueError`` unless the text is a base64url 32-byte Ed25519 public key."""
    raw = b64url_decode(pubkey_text)
    if len(raw) != KEY_BYTES:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_signature(pubkey_text: str, signature_text: str, message: bytes) -> bool:
    """True when ``signature_text`` (base64url) signs ``message`` under the key; never raises."""
    try:
        key = public_key_from_text(pubkey_text)
        signature = b64url_decode(signature_text)
        if len(signature) != SIGNATURE_BYTES:
            return False
        key.verify(signature, message)
    except (ValueError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True, slots=True)
class NodeKeys:
    """The node's signing key and its advertised (unpadded) public key text."""

    private_key: Ed25519PrivateKey
    pubkey: str

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeKeys:
        if len(seed) != KEY_BYTES:
            raise InvalidKey("an Ed25519 private key (seed) is 32 bytes")
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
        return cls(private_key, b64url_encode(private_key.public_key().public_bytes_raw()))

    @classmethod
    def generate(cls) -> NodeKeys:
        return cls.from_seed(Ed25519PrivateKey.generate().private_bytes_raw())

    @property
    def seed_text(self) -> str:
        return b64url_encode(self.private_key.private_bytes_raw())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.pubkey)

    def sign(self, message: bytes) -> str:
        return b64url_encode(self.private_key.sign(message))


def keys_from_env(pubkey: str, privkey: str) -> NodeKeys | None:
    """The pair configured in the environment, or None to use the stored pair.

    Raises ``InvalidKey`` when the private key is malformed or the public key does not belong
    to it (upstream never checks; a mismatched pair would make every peer reject us).
    """
    if not privkey:
        if pubkey:
            log.warning(
                "STIGMEM_FEDERATION_PUBKEY is set without STIGMEM_FEDERATION_PRIVKEY:"
                " ignored, the stored keypair is used"
            )
        return None
    try:
        keys = NodeKeys.from_seed(b64url_decode(privkey))
    except ValueError:
        raise InvalidKey(
            "STIGMEM_FEDERATION_PRIVKEY must be the base64url 32-byte Ed25519 seed"
        ) from None
    if pubkey:
        try:
            given = b64url_decode(pubkey)
        except ValueError:
            raise InvalidKey("STIGMEM_FEDERATION_PUBKEY is not base64url") from None
        if given != b64url_decode(keys.pubkey):
            raise InvalidKey(
                "STIGMEM_FEDERATION_PUBKEY does not belong to STIGMEM_FEDERATION_PRIVKEY"
            )
    return keys


def load_or_create_keys_txn(cur: Cursor) -> NodeKeys:
    """The stored pair, generated and stored on first use."""
    rows = dict(
        cur.execute(
            "SELECT key, value FROM node_meta"
            " WHERE key IN ('federation_pubkey', 'federation_privkey')"
        ).fetchall()
    )
    seed_text = rows.get("federation_privkey")
    if seed_text:
        try:
            return NodeKeys.from_seed(b64url_decode(seed_text))
        except ValueError:
            raise InvalidKey("node_meta.federation_privkey is not a valid Ed25519 seed") from None
    keys = NodeKeys.generate()
    cur.executemany(
        "INSERT INTO node_meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [("federation_pubkey", keys.pubkey), ("federation_privkey", keys.seed_text)],
    )
    return keys
