"""``AsyncStigmemClient``: the asyncio twin of ``StigmemClient`` (same methods, awaited)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from stigmem_node.client import routes
from stigmem_node.client.config import ClientConfig
from stigmem_node.client.errors import ConnectionFailed
from stigmem_node.client.models import (
    BatchResult,
    ConflictPage,
    Fact,
    FactPage,
    Garden,
    GardenMember,
    Identity,
    Job,
    LintReport,
    Peer,
    PeerApproval,
    PeerRegistration,
    RecallResult,
    Resolution,
    ValueType,
)
from stigmem_node.client.transport import (
    Call,
    RetryPolicy,
    decode,
    failure_reason,
    headers,
    timeout,
)

T = TypeVar("T")


class AsyncStigmemClient:
    """A Stigmem node over HTTP, configured by base URL and API key (asyncio).

    Use it as an async context manager (or await ``aclose``). Every method raises ``StigmemError``
    subclasses: ``APIError`` (status + the server's ``detail``) or ``ConnectionFailed``.
    ``AsyncStigmemClient.from_env()`` reads ``STIGMEM_URL`` and ``STIGMEM_API_KEY``.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float | None = None,
        retry: RetryPolicy | None = None,
        session_id: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = ClientConfig.build(url, api_key, timeout_s, retry, session_id)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.config.url,
            headers=headers(self.config.api_key, self.config.session_id),
            timeout=timeout(self.config.timeout_s),
            follow_redirects=False,
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncStigmemClient:
        """A client for ``STIGMEM_URL`` (default localhost:8765) with ``STIGMEM_API_KEY``."""
        env = ClientConfig.from_env()
        return cls(env.url, env.api_key, **kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncStigmemClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.query(), json=call.json
                )
            except httpx.TransportError as exc:
                raise ConnectionFailed(self.config.url, failure_reason(exc)) from None
            delay = self.config.retry.delay(attempt, response)
            if delay is None:
                return decode(call, response)
            attempt += 1
            await self._sleep(delay)

    # -- node ------------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        return await self._run(routes.health())

    async def me(self) -> Identity:
        return await self._run(routes.me())

    # -- facts -----------------------------------------------------------------------------
    async def assert_fact(
        self,
        entity: str,
        relation: str,
        value: Any,
        source: str,
        *,
        value_type: ValueType | None = None,
        scope: str | None = None,
        confidence: float | None = None,
        valid_until: str | None = None,
        garden_id: str | None = None,
        interpret_as: str | None = None,
        derived_from: Sequence[Mapping[str, Any]] | None = None,
    ) -> Fact:
        """Assert one fact (201; re-asserting identical content returns the existing fact)."""
        body = routes.new_fact(
            entity, relation, value, source, value_type=value_type, scope=scope,
            confidence=confidence, valid_until=valid_until, garden_id=garden_id,
            interpret_as=interpret_as, derived_from=derived_from,
        )  # fmt: skip
        return await self._run(routes.assert_fact(body))

    async def assert_batch(
        self,
        facts: Sequence[Mapping[str, Any]],
        *,
        atomic: bool = False,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """Assert many facts in one request; build items with ``stigmem_node.client.new_fact``."""
        return await self._run(routes.assert_batch(facts, atomic, idempotency_key))

    async def query_facts(
        self,
        entity: str | None = None,
        relation: str | None = None,
        *,
        source: str | None = None,
        scope: str | None = None,
        min_confidence: float | None = None,
        include_contradicted: bool | None = None,
        include_expired: bool | None = None,
        after: str | None = None,
        garden_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> FactPage:
        """One page of ``GET /v1/facts``; pass ``page.cursor`` back for the next one."""
        filters = {"entity": entity, "relation": relation, "source": source, "scope": scope,
                   "min_confidence": min_confidence, "include_contradicted": include_contradicted,
                   "include_expired": include_expired, "after": after, "garden_id": garden_id,
                   "limit": limit, "cursor": cursor}  # fmt: skip
        return await self._run(routes.query_facts(filters))

    async def iter_facts(
        self, entity: str | None = None, relation: str | None = None, **filters: Any
    ) -> AsyncIterator[Fact]:
        """Every matching fact, following the opaque cursor page by page."""
        filters.pop("cursor", None)
        cursor: str | None = None
        while True:
            page = await self.query_facts(entity, relation, cursor=cursor, **filters)
            for fact in page.facts:
                yield fact
            if not page.cursor:
                return
            cursor = page.cursor

    async def get_fact(self, fact_id: str) -> Fact:
        """A fact by uuid or by ``sha256:`` CID."""
        return await self._run(routes.get_fact(fact_id))

    async def retract(self, fact: Fact | str, *, source: str | None = None) -> Fact:
        """Retract a fact (by record or id): assert the same content with confidence 0.0."""
        record = fact if isinstance(fact, Fact) else await self.get_fact(fact)
        garden_uri = (
            (await self.get_garden(record.garden_id)).garden_id if record.garden_id else None
        )
        return await self._run(routes.assert_fact(routes.retraction_of(record, source, garden_uri)))

    # -- conflicts -------------------------------------------------------------------------
    async def list_conflicts(
        self, status: str | None = None, *, cursor: str | None = None, limit: int | None = None
    ) -> ConflictPage:
        return await self._run(routes.list_conflicts(status, cursor, limit))

    async def resolve_conflict(
        self,
        conflict_id: str,
        *,
        winning_fact_id: str | None = None,
        new_value: Any = None,
        resolution_note: str | None = None,
    ) -> Resolution:
        """Resolve by naming the winning fact or giving a new value (one of the two)."""
        call = routes.resolve_conflict(conflict_id, winning_fact_id, new_value, resolution_note)
        return await self._run(call)

    # -- recall and lint -------------------------------------------------------------------
    async def recall(
        self,
        query: str,
        *,
        scope: str | None = None,
        token_budget: int | None = None,
        depth: int | None = None,
        min_confidence: float | None = None,
        include_neighbors: bool | None = None,
        limit: int | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> RecallResult:
        """The facts most relevant to ``query``, packed under ``token_budget``."""
        options = {
            "scope": scope,
            "token_budget": token_budget,
            "depth": depth,
            "min_confidence": min_confidence,
            "include_neighbors": include_neighbors,
            "limit": limit,
            "weights": dict(weights) if weights is not None else None,
        }
        return await self._run(routes.recall(query, options))

    async def lint(
        self,
        scope: str,
        *,
        checks: Sequence[str] | None = None,
        entity: str | None = None,
        relation: str | None = None,
        stale_lookahead_s: int | None = None,
    ) -> LintReport | Job:
        """Lint a scope: a report, or a ``Job`` (202) on a large store; poll ``lint_job``."""
        options = {"checks": list(checks) if checks is not None else None, "entity": entity,
                   "relation": relation, "stale_lookahead_s": stale_lookahead_s}  # fmt: skip
        return await self._run(routes.lint(scope, options))

    async def lint_job(self, job_id: str) -> Job:
        return await self._run(routes.lint_job(job_id))

    # -- gardens ---------------------------------------------------------------------------
    async def create_garden(
        self,
        slug: str,
        name: str,
        *,
        scope: str | None = None,
        description: str | None = None,
        quarantine: bool | None = None,
    ) -> Garden:
        body = {"slug": slug, "name": name, "scope": scope, "description": description,
                "quarantine": quarantine}  # fmt: skip
        return await self._run(
            routes.create_garden({k: v for k, v in body.items() if v is not None})
        )

    async def list_gardens(self) -> list[Garden]:
        return await self._run(routes.list_gardens())

    async def get_garden(self, garden: str) -> Garden:
        """A garden by slug or uuid."""
        return await self._run(routes.get_garden(garden))

    async def delete_garden(self, garden: str) -> None:
        await self._run(routes.delete_garden(garden))

    async def list_garden_members(self, garden: str) -> list[GardenMember]:
        return await self._run(routes.list_garden_members(garden))

    async def add_garden_member(
        self, garden: str, entity_uri: str, role: str = "reader"
    ) -> GardenMember:
        return await self._run(routes.add_garden_member(garden, entity_uri, role))

    async def update_garden_member(self, garden: str, entity_uri: str, role: str) -> GardenMember:
        return await self._run(routes.update_garden_member(garden, entity_uri, role))

    async def remove_garden_member(self, garden: str, entity_uri: str) -> None:
        await self._run(routes.remove_garden_member(garden, entity_uri))

    # -- federation peers ------------------------------------------------------------------
    async def list_peers(self) -> list[Peer]:
        return await self._run(routes.list_peers())

    async def register_peer(self, declaration: Mapping[str, Any]) -> PeerRegistration:
        """Send a signed PeerDeclaration (``node_url``, ``node_id``, ``federation_pubkey``...)."""
        return await self._run(routes.register_peer(declaration))

    async def approve_peer(self, peer_id: str, pubkey_fingerprint: str) -> PeerApproval:
        return await self._run(routes.approve_peer(peer_id, pubkey_fingerprint))

    async def remove_peer(self, peer_id: str) -> None:
        await self._run(routes.remove_peer(peer_id))
