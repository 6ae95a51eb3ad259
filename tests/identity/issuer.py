"""A small, real OpenID provider for tests: discovery + JWKS over HTTP on 127.0.0.1.

It signs real ID tokens with PyJWT (RS256 and ES256 keys, each with a ``kid``), can rotate its
keys, and can be told to misbehave (error status, foreign issuer, garbage, redirect) so the
node's failure paths are exercised against a live server rather than a mock.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/keys.json"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: PrivateKeyTypes

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        public = self.private.public_key()  # type: ignore[union-attr]
        data: dict[str, Any] = json.loads(algorithm.to_jwk(public))
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class IssuerState:
    keys: list[SigningKey] = field(default_factory=list)
    discovery_status: int = 200
    jwks_body: bytes | None = None  # replaces the real JWKS when set
    issuer_override: str | None = None
    redirect_discovery: bool = False
    hits: dict[str, int] = field(default_factory=dict)


class Issuer:
    """Run with ``with Issuer(keys) as issuer:``; ``issuer.url`` is the issuer identifier."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.state = IssuerState(keys=list(keys))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Issuer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def mint(self, claims: dict[str, Any], key: SigningKey | None = None, **headers: Any) -> str:
        key = key or self.state.keys[0]
        header = {"kid": key.kid, **headers}
        return jwt.encode(claims, key.private, algorithm=key.alg, headers=header)  # type: ignore[arg-type]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                state = issuer.state
                state.hits[self.path] = state.hits.get(self.path, 0) + 1
                if self.path == DISCOVERY_PATH:
                    self._discovery(state)
                elif self.path == JWKS_PATH:
                    body = (
                        state.jwks_body
                        or json.dumps({"keys": [k.jwk() for k in state.keys]}).encode()
                    )
                    self._send(200, body)
                else:
                    self._send(404, b"{}")

            def _discovery(self, state: IssuerState) -> None:
                if state.redirect_discovery:
                    self.send_response(302)
                    self.send_header("Location", issuer.url + JWKS_PATH)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                document = {
                    "issuer": state.issuer_override or issuer.url,
                    "jwks_uri": issuer.url + JWKS_PATH,
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                }
                self._send(state.discovery_status, json.dumps(document).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:  # keep test output quiet
                pass

        return Handler
