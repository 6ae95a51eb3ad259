"""The memory tools an MCP host offers its agent, each a thin call through the HTTP client.

Every argument has a JSON schema with bounds (lengths, ranges, enums), checked before the node
is called. Every failure becomes a tool error whose text says what went wrong and what to do
(node down → "cannot reach the Stigmem node at ..."; 401 → the API key problem), never an
exception that could take the server down.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from stigmem_node.client import (
    AsyncStigmemClient,
    AuthenticationFailed,
    ConnectionFailed,
    Fact,
    FactValue,
    PermissionDenied,
    StigmemError,
)
from stigmem_node.client.config import API_KEY_ENV, URL_ENV
from stigmem_node.mcp import DEFAULT_SOURCE

MAX_NAME = 2048
MAX_VALUE = 65_536
MAX_QUERY = 4096
MAX_ID = 256
MAX_CURSOR = 1024

Scope = Literal["local", "team", "company", "public"]
ValueType = Literal["string", "text", "number", "boolean", "datetime", "ref", "null"]
LintCheck = Literal["contradiction", "stale", "orphan", "broken_ref", "namespacing"]

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID, description="fact uuid or sha256: CID")]
# Strict members: a JSON true must stay a boolean and 1 a number (lax unions would swap them).
Value = Annotated[
    Annotated[StrictStr, Field(max_length=MAX_VALUE)] | StrictBool | StrictInt | StrictFloat | None,
    Field(description="the value: a string, number, boolean or null"),
]
Confidence = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Cursor = Annotated[str | None, Field(max_length=MAX_CURSOR, description="cursor of the last page")]
Timestamp = Annotated[str | None, Field(max_length=64, description="ISO 8601; null = never")]


@contextmanager
def tool_errors(url: str) -> Iterator[None]:
    """Turn every client failure into a ``ToolError`` an agent can read and act on."""
    try:
        yield
    except AuthenticationFailed as exc:
        raise ToolError(
            f"the Stigmem node at {url} rejected the API key ({exc}); set {API_KEY_ENV} to a "
            "valid key (the node's first key is in data/admin.key)"
        ) from None
    except PermissionDenied as exc:
        raise ToolError(f"the API key lacks the permission for this ({exc})") from None
    except ConnectionFailed as exc:
        raise ToolError(f"{exc}; is the node running and {URL_ENV} right?") from None
    except StigmemError as exc:
        raise ToolError(f"the Stigmem node refused: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ToolError(f"invalid arguments: {exc}") from None


def compact(fact: Fact) -> dict[str, Any]:
    """A fact without its null and empty fields, to keep the agent's context small."""
    data = fact.model_dump(mode="json", exclude_none=True)
    return {k: v for k, v in data.items() if v != [] and not (k == "sanitizer_redacted" and not v)}


class MemoryTools:
    """The tools, bound to one client.

    Facts the agent asserts are attributed to ``source`` when configured, else to the API
    key's own identity (``GET /v1/me``, asked once), else to ``DEFAULT_SOURCE``.
    """

    def __init__(self, client: AsyncStigmemClient, source: str | None) -> None:
        self.client = client
        self.source = source
        self.url = client.config.url

    async def _default_source(self) -> str:
        if self.source is None:
            try:
                self.source = (await self.client.me()).entity_uri
            except StigmemError:
                return DEFAULT_SOURCE  # the assert itself will report what is wrong
        return self.source

    async def assert_fact(
        self,
        entity: Name,
        relation: Name,
        value: Value,
        value_type: ValueType | None = None,
        scope: Scope = "local",
        confidence: Confidence = 1.0,
        source: Annotated[
            str | None, Field(max_length=MAX_NAME, description="default: the API key's identity")
        ] = None,
        valid_until: Timestamp = None,
    ) -> dict[str, Any]:
        """Remember a fact: (entity, relation, value), e.g. ("user:alice", "pref:color",
        "blue"). Facts are immutable; asserting a different value for the same entity and
        relation records a contradiction instead of overwriting. value_type defaults from the
        JSON type (string, number, boolean, null); use "text" for long prose, "ref" for a link
        to another entity, "datetime" for ISO 8601 times. Returns the stored fact."""
        with tool_errors(self.url):
            fact = await self.client.assert_fact(
                entity, relation, FactValue.of(value, value_type),
                source or await self._default_source(),
                scope=scope, confidence=confidence, valid_until=valid_until,
            )  # fmt: skip
        return compact(fact)

    async def query_facts(
        self,
        entity: Annotated[str | None, Field(max_length=MAX_NAME)] = None,
        relation: Annotated[str | None, Field(max_length=MAX_NAME)] = None,
        source: Annotated[str | None, Field(max_length=MAX_NAME)] = None,
        scope: Scope | None = None,
        min_confidence: Confidence = 0.0,
        include_contradicted: bool = False,
        include_expired: bool = False,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        """Look facts up by exact entity, relation, source and/or scope (newest first).
        Returns {"facts", "total", "cursor"}; pass cursor back to get the next page."""
        with tool_errors(self.url):
            page = await self.client.query_facts(
                entity, relation, source=source, scope=scope, min_confidence=min_confidence,
                include_contradicted=include_contradicted, include_expired=include_expired,
                limit=limit, cursor=cursor,
            )  # fmt: skip
        return {"facts": [compact(f) for f in page.facts], "total": page.total,
                "cursor": page.cursor}  # fmt: skip

    async def get_fact(self, fact_id: Id) -> dict[str, Any]:
        """Fetch one fact by its id (uuid) or content id (sha256:...)."""
        with tool_errors(self.url):
            return compact(await self.client.get_fact(fact_id))

    async def retract_fact(self, fact_id: Id) -> dict[str, Any]:
        """Retract a fact that is wrong or no longer true. Nothing is deleted: a retraction
        (the same content with confidence 0) is recorded and the fact stops showing in
        queries. Returns the retraction."""
        with tool_errors(self.url):
            return compact(await self.client.retract(fact_id))

    async def recall(
        self,
        query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)],
        scope: Scope = "local",
        token_budget: Annotated[int, Field(ge=1, le=200_000)] = 4000,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """Search memory in natural language: the facts most relevant to the query (words,
        linked entities, confidence, recency), packed under token_budget."""
        with tool_errors(self.url):
            result = await self.client.recall(
                query, scope=scope, token_budget=token_budget, limit=limit
            )
        return {
            "facts": [{"score": s.score, "fact": compact(s.fact)} for s in result.facts],
            "tokens_used": result.tokens_used,
            "truncated": result.truncated,
        }

    async def list_conflicts(
        self,
        status: Literal["unresolved", "resolved"] | None = "unresolved",
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        """List contradictions: two live facts giving different values for the same entity,
        relation and scope. Resolve one with resolve_conflict."""
        with tool_errors(self.url):
            page = await self.client.list_conflicts(status, cursor=cursor, limit=limit)
        conflicts = [
            {"conflict_id": c.conflict_id, "status": c.status, "detected_at": c.detected_at,
             "fact_a": compact(c.fact_a) if c.fact_a else None,
             "fact_b": compact(c.fact_b) if c.fact_b else None}
            for c in page.conflicts
        ]  # fmt: skip
        return {"conflicts": conflicts, "cursor": page.cursor, "has_more": page.has_more}

    async def resolve_conflict(
        self,
        conflict_id: Annotated[str, Field(min_length=1, max_length=MAX_ID)],
        winning_fact_id: Annotated[str | None, Field(max_length=MAX_ID)] = None,
        new_value: Value = None,
        new_value_type: ValueType | None = None,
    ) -> dict[str, Any]:
        """Settle a contradiction: name the fact that is right (winning_fact_id), or give the
        correct value (new_value). The losing facts stay on record."""
        if winning_fact_id is None and new_value is None and new_value_type != "null":
            raise ToolError("invalid arguments: give winning_fact_id or new_value")
        replacement = None
        if new_value is not None or new_value_type == "null":
            replacement = FactValue.of(new_value, new_value_type)
        with tool_errors(self.url):
            done = await self.client.resolve_conflict(
                conflict_id, winning_fact_id=winning_fact_id, new_value=replacement
            )
        return done.model_dump(mode="json")

    async def lint_scope(
        self,
        scope: Scope,
        checks: Annotated[list[LintCheck] | None, Field(max_length=5)] = None,
        entity: Annotated[str | None, Field(max_length=MAX_NAME)] = None,
        relation: Annotated[str | None, Field(max_length=MAX_NAME)] = None,
    ) -> dict[str, Any]:
        """Check the health of memory in a scope: open contradictions, stale or expiring
        facts, entities without live facts, broken references, relations without a
        namespace. Returns the findings (or a job id on very large stores)."""
        with tool_errors(self.url):
            report = await self.client.lint(scope, checks=checks, entity=entity, relation=relation)
        return report.model_dump(mode="json", exclude_none=True)


TOOL_NAMES = (
    "assert_fact",
    "query_facts",
    "get_fact",
    "retract_fact",
    "recall",
    "list_conflicts",
    "resolve_conflict",
    "lint_scope",
)
READ_ONLY = frozenset({"query_facts", "get_fact", "recall", "list_conflicts", "lint_scope"})
