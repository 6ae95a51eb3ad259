"""A short-lived, per-process cache of which gardens each principal belongs to.

Every read path asks "which gardens may this caller read?"; the answer is cached for a few
seconds so a busy reader costs no extra database round trip. A membership change made by
this process clears the cache at once (other processes sharing a database see it within the
cache lifetime). A generation number keeps a lookup that raced with a change from storing
what it read before the change.
"""

from __future__ import annotations

from stigmem_node.clock import Clock

MAX_ENTRIES = 10_000


class MembershipCache:
    def __init__(self, clock: Clock, ttl_s: float) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, frozenset[str]]] = {}
        self.generation = 0

    def get(self, entity_uri: str) -> frozenset[str] | None:
        entry = self._entries.get(entity_uri)
        if entry is None:
            return None
        expires, gardens = entry
        if expires <= self._clock.monotonic():
            self._entries.pop(entity_uri, None)
            return None
        return gardens

    def put(self, entity_uri: str, gardens: frozenset[str], generation: int) -> None:
        """Store a lookup started at ``generation``, unless membership changed since."""
        if generation != self.generation or self._ttl_s <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[entity_uri] = (self._clock.monotonic() + self._ttl_s, gardens)

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()
