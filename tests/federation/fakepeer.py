"""A fake federation peer: a small stdlib HTTP server on 127.0.0.1 that serves a well-known
document and scripted fact pages, and records what it was asked. Tests use it as an upstream
node, a broken node, or a hostile one."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stigmem_node.federation.keys import NodeKeys


class FakePeer:
    """``pages`` maps an incoming cursor ("" for none) to ``(status, body, headers)``."""

    def __init__(self, keys: NodeKeys | None = None, node_id: str | None = None) -> None:
        self.keys = keys or NodeKeys.generate()
        self.node_id = node_id or f"stigmem:node:{uuid.uuid4()}"
        self.url = ""
        self.well_known: dict[str, Any] | None = None  # None: the default document
        self.well_known_status = 200
        self.redirect_to: str | None = None
        self.pages: dict[str, tuple[int, Any, dict[str, str]]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.pushes: list[Any] = []

    def document(self) -> dict[str, Any]:
        if self.well_known is not None:
            return self.well_known
        return {
            "version": "1.0",
            "node_id": self.node_id,
            "node_url": self.url,
            "federation": "enabled",
            "federation_pubkey": self.keys.pubkey,
            "federation_version": "0.5",
            "federation_endpoints": {
                "peers": "/v1/federation/peers",
                "facts": "/v1/federation/facts",
                "push": None,
            },
        }

    def cursors_asked(self) -> list[str]:
        out = []
        for method, path, _ in self.requests:
            if method == "GET" and path.startswith("/v1/federation/facts"):
                query = parse_qs(urlsplit(path).query)
                out.append(query.get("cursor", [""])[0])
        return out

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                peer.requests.append(("GET", self.path, dict(self.headers)))
                if self.path.startswith("/.well-known/stigmem"):
                    if peer.redirect_to:
                        self._send(302, {}, {"Location": peer.redirect_to})
                    else:
                        self._send(peer.well_known_status, peer.document())
                    return
                if self.path.startswith("/v1/federation/facts"):
                    cursor = parse_qs(urlsplit(self.path).query).get("cursor", [""])[0]
                    status, body, headers = peer.pages.get(
                        cursor,
                        (200, {"facts": [], "cursor": cursor or None, "has_more": False}, {}),
                    )
                    self._send(status, body, headers)
                    return
                self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                peer.requests.append(("POST", self.path, dict(self.headers)))
                peer.pushes.append(body)
                self._send(
                    202, {"accepted": len(body.get("facts", [])), "rejected": 0, "errors": []}
                )

        return Handler

    @contextmanager
    def serving(self) -> Iterator[FakePeer]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
