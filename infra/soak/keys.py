#!/usr/bin/env python3
"""Print the environment file of the 4-node soak cluster (``infra/docker-compose.soak.yml``).

    cd infra && python soak/keys.py > soak/.env && chmod 600 soak/.env

For each node (``NODE_A`` ... ``NODE_D``) it prints the lines the compose file reads:

    NODE_A_FEDERATION_PRIVKEY=<base64url raw Ed25519 seed>   -> STIGMEM_FEDERATION_PRIVKEY
    NODE_A_FEDERATION_PUBKEY=<base64url raw Ed25519 public>  -> STIGMEM_FEDERATION_PUBKEY
    NODE_A_ADMIN_KEY=<random API key>                        -> STIGMEM_BOOTSTRAP_KEY

Keys are encoded as the operator page's snippet encodes them (``base64.urlsafe_b64encode``
of the raw 32 bytes, padded); the node accepts them padded or not. The output holds private
keys: keep the file private and out of version control (``infra/soak/.gitignore``).

Runs on any Python 3.9+: with the ``cryptography`` package when it is installed, otherwise
with a small RFC 8032 implementation of the public-key derivation (no signing needed here).
"""

# The host's Python may be old (macOS ships 3.9): no 3.10+ spellings outside annotations.
# ruff: noqa: UP017
from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import os
import secrets
import string
import sys

P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P


def _recover_x(y: int, sign: int) -> int:
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    if x & 1 != sign:
        x = P - x
    return x


Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)
_BY = 4 * pow(5, P - 2, P) % P
BASE = (_recover_x(_BY, 0), _BY, 1, _recover_x(_BY, 0) * _BY % P)


def _add(p1: Point, p2: Point) -> Point:
    """Point addition in extended twisted Edwards coordinates (RFC 8032, 5.1.4)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * 2 * D * t2 % P
    dd = z1 * 2 * z2 % P
    e, f, g, h = b - a, dd - c, dd + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def public_key_pure(seed: bytes) -> bytes:
    """The Ed25519 public key of a 32-byte seed (RFC 8032, 5.1.5), in pure Python."""
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    point: Point = (0, 1, 1, 0)
    addend: Point = BASE
    while scalar:
        if scalar & 1:
            point = _add(point, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    x, y, z, _ = point
    zinv = pow(z, P - 2, P)
    x, y = x * zinv % P, y * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def public_key(seed: bytes) -> bytes:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        return public_key_pure(seed)
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def node_lines(name: str) -> list[str]:
    seed = secrets.token_bytes(32)
    prefix = f"NODE_{name}"
    return [
        f"{prefix}_FEDERATION_PRIVKEY={base64.urlsafe_b64encode(seed).decode()}",
        f"{prefix}_FEDERATION_PUBKEY={base64.urlsafe_b64encode(public_key(seed)).decode()}",
        f"{prefix}_ADMIN_KEY={secrets.token_urlsafe(32)}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=4, help="how many nodes (A, B, ...)")
    parser.add_argument("--output", help="write a new file with mode 0600 instead of stdout")
    args = parser.parse_args(argv)
    if not 1 <= args.nodes <= 26:
        parser.error("--nodes must be between 1 and 26")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"# Stigmem soak cluster keys, generated {now}. Private: holds private keys."]
    for name in string.ascii_uppercase[: args.nodes]:
        lines.extend(node_lines(name))
    text = "\n".join(lines) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        fd = os.open(args.output, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        print(f"keys.py: {args.output} already exists; not overwritten", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
