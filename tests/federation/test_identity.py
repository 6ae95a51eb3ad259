"""Known-answer tests: keys, declaration bytes and signatures, fingerprints, token claims.

Other implementations can check theirs against these vectors (fixed seeds, fixed inputs)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from stigmem_node.db import Cursor, Database
from stigmem_node.federation.declarations import Declaration, declaration_bytes, sign_declaration
from stigmem_node.federation.keys import (
    InvalidKey,
    NodeKeys,
    b64url_decode,
    fingerprint,
    keys_from_env,
    load_or_create_keys_txn,
    verify_signature,
)
from stigmem_node.federation.tokens import mint_peer_token

SEED = bytes(range(32))
PUBKEY = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
PEER = "stigmem:node:00000000-0000-4000-8000-000000000001"


def test_rfc8032_vectors_sign_as_published() -> None:
    one = NodeKeys.from_seed(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    assert b64url_decode(one.pubkey).hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert b64url_decode(one.sign(b"")).hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
        "1cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    two = NodeKeys.from_seed(
        bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
    )
    assert b64url_decode(two.sign(b"\x72")).hex() == (
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
        "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
    )


def test_keys_are_unpadded_base64url_and_fingerprinted_as_text() -> None:
    keys = NodeKeys.from_seed(SEED)
    assert keys.pubkey == PUBKEY
    assert len(keys.pubkey) == 43
    assert "=" not in keys.pubkey
    assert keys.fingerprint == (
        "sha256:b43cdfe1bf180ef4e22bb93ea9cc8f0ef23b762de714053b3bf0acdda2d7470d"
    )
    # A hash of the text as pinned: the padded form of the same key fingerprints differently.
    assert fingerprint(PUBKEY + "=") != keys.fingerprint


def test_declaration_bytes_match_upstream_example() -> None:
    """The reference's observed canonical bytes, byte for byte."""
    expected = (
        b'{"allowed_scopes":["public"],"federation_pubkey":'
        b'"H-BLL5uOOhk3eIvX7NcyIBbv-U9_lQ2zq11vgl31_dM","node_id":"stigmem:node:fake-peer",'
        b'"node_url":"http://127.0.0.1:18771","signed_at":"2026-12-03T00:00:00Z"}'
    )
    assert (
        declaration_bytes(
            node_id="stigmem:node:fake-peer",
            node_url="http://127.0.0.1:18771",
            federation_pubkey="H-BLL5uOOhk3eIvX7NcyIBbv-U9_lQ2zq11vgl31_dM",
            allowed_scopes=["public"],
            signed_at="2026-12-03T00:00:00Z",
        )
        == expected
    )


def test_declaration_bytes_escape_non_ascii_and_keep_scope_order() -> None:
    raw = declaration_bytes(
        node_id="stigmem:node:café",
        node_url="http://x/y",
        federation_pubkey="k",
        allowed_scopes=["public", "company"],
        signed_at="s",
    )
    assert raw == (
        b'{"allowed_scopes":["public","company"],"federation_pubkey":"k",'
        b'"node_id":"stigmem:node:caf\\u00e9","node_url":"http://x/y","signed_at":"s"}'
    )


def test_declaration_signature_known_answer() -> None:
    declaration = sign_declaration(
        NodeKeys.from_seed(SEED),
        node_id=PEER,
        node_url="http://127.0.0.1:18771",
        allowed_scopes=["public", "company"],
        signed_at="2026-12-03T00:00:00Z",
    )
    assert declaration.allowed_scopes == ["company", "public"]  # sorted, signed as sent
    assert declaration.declaration_sig == (
        "Z_bw7UUxb6RNf1uyszNhIQGKIPXLdzJaLR3H5CM_6eXxxOtmJRT0c3zexheqK2UVLJkdbtiKClannMyN0MJeAw"
    )
    assert declaration.verify(PUBKEY)
    reordered = Declaration(
        PEER,
        "http://127.0.0.1:18771",
        PUBKEY,
        ["public", "company"],
        "2026-12-03T00:00:00Z",
        declaration.declaration_sig,
    )
    assert not reordered.verify(PUBKEY)  # the array is verified exactly as sent


def test_peer_token_claims_known_answer() -> None:
    token = mint_peer_token(
        NodeKeys.from_seed(SEED),
        iss="stigmem:node:a",
        sub="stigmem:node:b",
        scopes=["company", "public"],
        now_ms=1796312346743,
        nonce="00000000-0000-4000-8000-000000000002",
    )
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(header))) == {"alg": "EdDSA", "typ": "JWT"}
    assert base64.urlsafe_b64decode(pad(payload)) == (
        b'{"iss":"stigmem:node:a","sub":"stigmem:node:b","iat":1796312346743,'
        b'"exp":1796315946743,"nonce":"00000000-0000-4000-8000-000000000002",'
        b'"scopes":["company","public"]}'
    )
    assert verify_signature(PUBKEY, signature, f"{header}.{payload}".encode())
    assert signature == (
        "oKYFRpQY9SVrUCmk6tN-qc-J50M95o3rFqBhhecWA-2AKETdhAr2CIEgBN7QSXiaIYMfL_Alir7rQ7SgnwasDQ"
    )


def test_env_keys_padded_or_not_and_checked_for_consistency() -> None:
    padded_seed = base64.urlsafe_b64encode(SEED).decode()  # the seed page's snippet pads
    padded_pub = PUBKEY + "="
    keys = keys_from_env(padded_pub, padded_seed)
    assert keys is not None
    assert keys.pubkey == PUBKEY
    assert keys_from_env("", padded_seed) is not None
    assert keys_from_env(PUBKEY, "") is None  # a public key alone cannot sign: stored pair
    with pytest.raises(InvalidKey, match="does not belong"):
        keys_from_env(NodeKeys.generate().pubkey, padded_seed)
    with pytest.raises(InvalidKey, match="32-byte"):
        keys_from_env("", "c2hvcnQ")


def test_stored_keys_generated_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "n.db")
    db.open()
    try:
        first = db.write_sync(load_or_create_keys_txn)
        again = db.write_sync(load_or_create_keys_txn)
        stored = dict(db.read_sync(_meta))
    finally:
        db.close()
    assert first.pubkey == again.pubkey
    assert stored["federation_pubkey"] == first.pubkey
    assert len(stored["federation_privkey"]) == 43  # raw seed, unpadded, as upstream


def _meta(cur: Cursor) -> list[tuple[str, str]]:
    return list(cur.execute("SELECT key, value FROM node_meta").fetchall())
