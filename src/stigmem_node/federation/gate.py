"""Backpressure for the routes peers call: at most one request in flight per peer and kind,
and a bound on concurrent serving across peers. Refusals carry ``Retry-After`` so a
well-behaved puller (ours, or upstream's 429 loop) comes back later instead of piling up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stigmem_node.errors import NodeError

RETRY_AFTER_S = 1


class Gate:
    def __init__(self, max_inflight: int) -> None:
        self._max = max_inflight
        self._busy: set[tuple[str, str]] = set()

    @contextmanager
    def enter(self, peer_id: str, kind: str) -> Iterator[None]:
        """Hold a slot for the duration. Raises 429 (this peer is busy) or 503 (overloaded)."""
        key = (peer_id, kind)
        if key in self._busy:
            raise NodeError(
                {
                    "code": "peer_request_in_flight",
                    "message": "one request at a time per peer; retry after the current one",
                },
                status=429,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        if len(self._busy) >= self._max:
            raise NodeError(
                {
                    "code": "federation_overloaded",
                    "message": "too many federation requests in flight; retry later",
                },
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._busy.add(key)
        try:
            yield
        finally:
            self._busy.discard(key)
