"""One conformance run: a fresh node, its vectors sent once each, responses remembered.

``requires_setup`` reuses the response the setup vector got when it ran; a setup vector
that was deselected is sent on demand (once), so ``pytest -k`` on a single vector works.
A file's ``seed_fact`` is asserted before the first vector of that file is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from tests.conformance.vectors import Vector


class Node(Protocol):
    """What a run needs of a node (``tests.process.NodeProcess`` in the real runs)."""

    @property
    def base_url(self) -> str: ...

    def client(self, *, auth: bool = True, timeout: float = 15.0) -> httpx.Client: ...

    def output_tail(self) -> str: ...


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # parsed JSON, or None for an empty body
    text: str

    def describe(self) -> str:
        return f"HTTP {self.status}: {self.text[:1500]}"


def _parse(content: bytes) -> Any:
    """The JSON body; None when empty or not JSON (the raw text stays in the report)."""
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


class SetupFailed(AssertionError):
    pass


class ConformanceRun:
    """The state of one run (auth on or off) against one node process."""

    def __init__(self, name: str, node: Node, vectors: list[Vector], *, auth: bool) -> None:
        self.name = name
        self.node = node
        self.auth = auth
        self.by_id = {v.id: v for v in vectors}
        self.responses: dict[str, Response] = {}
        self.seeded: set[str] = set()
        self.last_index = -1
        self._admin = node.client(auth=auth)
        self._anonymous = node.client(auth=False)

    def close(self) -> None:
        self._admin.close()
        self._anonymous.close()

    # -- sending ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any, *, credentials: bool) -> Response:
        """Send ``path`` byte for byte (it is pre-encoded) with an optional JSON body."""
        url = httpx.URL(self.node.base_url).copy_with(raw_path=path.encode("ascii"))
        headers = {}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        client = self._admin if credentials else self._anonymous
        try:
            reply = client.request(method, url, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise AssertionError(
                f"{method} {path}: transport error {exc!r}\n{self.node.output_tail()}"
            ) from exc
        return Response(reply.status_code, _parse(reply.content), reply.text)

    def credentials_for(self, vector: Vector) -> bool:
        """Admin key in the auth-on run, except for probes; never in the auth-off run."""
        return self.auth and not vector.is_probe

    def send(self, vector: Vector) -> Response:
        """The vector's response, sending it (after its seed and setup) only the first time."""
        if vector.id in self.responses:
            return self.responses[vector.id]
        self.seed(vector)
        self.require_setup(vector)
        response = self.request(
            vector.method, vector.path, vector.body, credentials=self.credentials_for(vector)
        )
        self.responses[vector.id] = response
        return response

    def seed(self, vector: Vector) -> None:
        """Assert the file's ``seed_fact`` once, before any of the file's vectors."""
        if vector.seed_fact is None or vector.file in self.seeded:
            return
        self.seeded.add(vector.file)
        reply = self.request("POST", "/v1/facts", vector.seed_fact, credentials=self.auth)
        if reply.status != 201:
            raise SetupFailed(f"seed_fact of {vector.file} was not asserted: {reply.describe()}")

    def require_setup(self, vector: Vector) -> None:
        setup_id = vector.requires_setup
        if setup_id is None:
            return
        setup = self.by_id.get(setup_id)
        if setup is None:
            raise SetupFailed(f"requires_setup names an unknown vector {setup_id!r}")
        reply = self.send(setup)
        if reply.status >= 300:
            raise SetupFailed(f"requires_setup {setup_id!r} did not succeed: {reply.describe()}")

    def check_order(self, vector: Vector) -> None:
        """Vectors of one run must execute in file order on one worker."""
        if vector.index < self.last_index:
            raise AssertionError(
                f"{vector.key} ran after a later vector: the run's items were reordered "
                "or split (use `--dist loadgroup` with xdist)"
            )
        self.last_index = vector.index
