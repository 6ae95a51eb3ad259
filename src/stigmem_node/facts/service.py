"""Fact operations: assert (single and batch), get, provenance, CID verification.

Everything here checks and normalises input on the event loop, then hands one plain function
to the database; the writer thread does the rest in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from stigmem_node.auth.caller import Caller
from stigmem_node.clock import format_ts, normalise_utc_input
from stigmem_node.db import Database
from stigmem_node.errors import (
    BadRequest,
    Forbidden,
    NodeError,
    NotFound,
    PayloadTooLarge,
)
from stigmem_node.facts import bulk, store
from stigmem_node.facts.batch import batch_parts_txn, batch_txn, validation_error
from stigmem_node.facts.cid import CID_RE, compute_cid, is_cid
from stigmem_node.facts.models import AssertRequest
from stigmem_node.facts.rules import finish_record
from stigmem_node.facts.store import AssertOutcome, NewFact, WriteContext
from stigmem_node.facts.uri import InvalidEntityURI, normalise_uri
from stigmem_node.facts.values import encode_v
from stigmem_node.facts.visibility import ReadView

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Items per part of a batch written in parts (``FactService.assert_batch``).
BATCH_PART = 100

RESERVED_NAMESPACE = {
    "code": "reserved_namespace",
    "message": "relations in the 'garden:' namespace are written only by the node",
}


async def _no_gardens(_: Caller) -> frozenset[str] | None:
    return frozenset()


async def _no_attestation(_: Caller, req: AssertRequest) -> str | None:
    if req.attestation is not None:
        raise BadRequest("attestation is not supported by this node")
    return None


@dataclass(frozen=True, slots=True)
class GardenRef:
    """The garden a fact is written into, resolved from the request's garden URI."""

    id: str
    quarantine: bool


class GardenGate(Protocol):
    """What the fact routes need from the gardens feature."""

    async def for_write(self, caller: Caller, garden_uri: str, scope: str) -> GardenRef:
        """The garden ``caller`` may write a ``scope`` fact into; raises 404, 422 or 403."""

    async def for_filter(self, caller: Caller, garden_uri: str) -> str:
        """The id of a garden ``caller`` may read (``garden_id=`` filter); raises 404 or 403."""

    async def require_write(self, caller: Caller, garden_id: str) -> None:
        """Raise 403 unless ``caller`` may write into the (existing) garden ``garden_id``."""


class _NoGardenGate:
    async def for_write(self, caller: Caller, garden_uri: str, scope: str) -> GardenRef:
        raise NotFound("garden not found")

    async def for_filter(self, caller: Caller, garden_uri: str) -> str:
        raise NotFound("garden not found")

    async def require_write(self, caller: Caller, garden_id: str) -> None:
        raise NotFound("garden not found")


@dataclass(slots=True)
class FactService:
    db: Database
    ctx: WriteContext
    max_text_bytes: int
    # Which gardens a caller may read (None: all). The gardens feature installs its own.
    garden_access: Callable[[Caller], Awaitable[frozenset[str] | None]] = _no_gardens
    # Garden resolution for writes and filters; the gardens feature installs its own.
    garden_gate: GardenGate = field(default_factory=_NoGardenGate)
    # Attestation check (pipeline step 2): the attesting key's id or None; raises NodeError.
    # The node installs ``auth.attestation.Attestor``; this default refuses any attestation.
    attest: Callable[[Caller, AssertRequest], Awaitable[str | None]] = _no_attestation

    async def view_for(self, caller: Caller) -> ReadView:
        """The caller's ``ReadView`` at this moment (the one ACL every read path applies)."""
        return ReadView(format_ts(self.ctx.clock.now()), await self.garden_access(caller))

    async def garden_filter(self, caller: Caller, garden_uri: str) -> str:
        """The garden id behind a ``garden_id=`` query filter (404 unknown, 403 non-member)."""
        return await self.garden_gate.for_filter(caller, garden_uri)

    # -- assert --------------------------------------------------------------------------
    async def check_garden(self, caller: Caller, req: AssertRequest) -> GardenRef | None:
        """The request's garden, checked for this caller (assert pipeline step 4)."""
        if req.garden_id is None:
            return None
        caller.require("write")
        return await self.garden_gate.for_write(caller, req.garden_id, req.scope)

    def prepare(
        self, caller: Caller, req: AssertRequest, garden: GardenRef | None = None
    ) -> NewFact:
        """Check and normalise one request (no I/O). Raises ``NodeError``.

        ``garden`` is what ``check_garden`` returned for ``req``.
        """
        caller.require("write")
        value = req.value
        if value.interpret_as == "instruction" and not caller.has("instruction:write"):
            raise Forbidden(
                {
                    "code": "instruction_write_required",
                    "message": "asserting an instruction needs the instruction:write permission",
                }
            )
        if isinstance(value.v, str) and len(value.v.encode("utf-8")) > self.max_text_bytes:
            raise PayloadTooLarge(
                {
                    "code": "value_too_large",
                    "message": f"value.v is over {self.max_text_bytes} bytes",
                    "limit": self.max_text_bytes,
                }
            )
        if req.garden_id is not None and garden is None:
            raise NotFound("garden not found")  # fail closed: a garden fact is never untagged
        if req.relation.startswith("garden:"):
            raise Forbidden(RESERVED_NAMESPACE)
        try:
            entity = normalise_uri(req.entity)
            source = normalise_uri(req.source)
        except InvalidEntityURI as exc:
            raise BadRequest(str(exc)) from None
        if req.relation == "stigmem:ttl" and (
            value.type != "number" or not isinstance(value.v, int | float) or value.v < 0
        ):
            raise BadRequest(
                {"code": "invalid_ttl", "message": "stigmem:ttl takes a number of seconds >= 0"}
            )
        value_v = encode_v(value.type, value.v)
        return NewFact(
            entity=entity,
            relation=req.relation,
            value_type=value.type,
            value_v=value_v,
            source=source,
            confidence=float(req.confidence),
            scope=req.scope,
            interpret_as=value.interpret_as,
            # CONTRACT §2: timestamp inputs are normalised to UTC (the model checked it parses).
            valid_until=normalise_utc_input(req.valid_until) if req.valid_until else None,
            derived_from=req.derived_from,
            writer=caller.entity_uri,
            garden_id=garden.id if garden else None,
            quarantined=garden.quarantine if garden else False,
        )

    async def assert_fact(self, caller: Caller, req: AssertRequest) -> AssertOutcome:
        caller.require("write")
        attested_key_id = await self.attest(caller, req)
        fact = self.prepare(caller, req, await self.check_garden(caller, req))
        fact.attested_key_id = attested_key_id
        outcome = await self.db.write(
            "assert_fact", store.assert_fact_txn, self.ctx, fact, many=bulk.assert_group_txn
        )
        finish_record(fact, outcome)
        return outcome

    async def assert_batch(
        self,
        caller: Caller,
        items: list[dict[str, Any]],
        *,
        atomic: bool,
        idempotency_key: str | None = None,
        body_digest: str = "",
    ) -> dict[str, Any]:
        """Assert many facts; ``{accepted, rejected, results}`` with results in input order.

        Every single-assert rule applies per item. An atomic batch commits all or nothing.
        An idempotency key replays the first response; the same key with another body is 409.
        """
        caller.require("write")
        gardens: dict[tuple[str, str], GardenRef | NodeError] = {}
        if not atomic and idempotency_key is None and len(items) > BATCH_PART:
            return await self._assert_batch_in_parts(caller, items, gardens)
        prepared = [await self._check_item(caller, item, gardens) for item in items]
        key = (caller.entity_uri, idempotency_key, body_digest) if idempotency_key else None
        return await self.db.write(
            "assert_batch", batch_txn, self.ctx, prepared, atomic, key, caller.entity_uri
        )

    async def _assert_batch_in_parts(
        self,
        caller: Caller,
        items: list[dict[str, Any]],
        gardens: dict[tuple[str, str], GardenRef | NodeError],
    ) -> dict[str, Any]:
        """A batch that is neither atomic nor keyed is written while it is checked: its
        first ``BATCH_PART`` items go to the writer as soon as they are checked, and each
        further part as it is ready (``Database.stream``), so the writer's work (mostly
        SQLite's, without the interpreter lock) overlaps the event loop's checks. One
        transaction, as a batch written at once."""

        async def part(start: int) -> list[NewFact | NodeError]:
            chunk = items[start : start + BATCH_PART]
            return [await self._check_item(caller, item, gardens) for item in chunk]

        stream = self.db.stream(
            "assert_batch", batch_parts_txn, await part(0), self.ctx, caller.entity_uri
        )
        try:
            for start in range(BATCH_PART, len(items), BATCH_PART):
                stream.put(await part(start))
        except BaseException:
            stream.abort()
            raise
        stream.end()
        result: dict[str, Any] = await stream.result
        return result

    async def _check_item(
        self,
        caller: Caller,
        item: dict[str, Any],
        gardens: dict[tuple[str, str], GardenRef | NodeError],
    ) -> NewFact | NodeError:
        """One batch item checked as a single assert would be: the fact, or why not."""
        try:
            req = AssertRequest.model_validate(item)
            attested_key_id = await self.attest(caller, req)
            garden = await self._batch_garden(caller, req, gardens)
            fact = self.prepare(caller, req, garden)
            fact.attested_key_id = attested_key_id
            return fact
        except ValidationError as exc:
            return validation_error(exc)
        except NodeError as exc:
            return exc

    async def _batch_garden(
        self, caller: Caller, req: AssertRequest, seen: dict[tuple[str, str], GardenRef | NodeError]
    ) -> GardenRef | None:
        """``check_garden`` once per distinct (garden, scope) of a batch."""
        if req.garden_id is None:
            return None
        key = (req.garden_id, req.scope)
        if key not in seen:
            try:
                seen[key] = await self.garden_gate.for_write(caller, req.garden_id, req.scope)
            except NodeError as exc:
                seen[key] = exc
        found = seen[key]
        if isinstance(found, NodeError):
            raise found
        return found

    # -- reads ---------------------------------------------------------------------------
    async def get_fact(self, caller: Caller, fact_id: str) -> dict[str, Any]:
        caller.require("read")
        view = await self.view_for(caller)
        if is_cid(fact_id):
            if not CID_RE.match(fact_id):
                raise BadRequest(
                    {
                        "code": "cid_malformed",
                        "message": "a CID is 'sha256:' followed by 64 lowercase hex digits",
                    }
                )
            record = await self.db.read(
                "get_fact_by_cid", store.get_record_by_cid_txn, view, fact_id, small=True
            )
        else:
            check_fact_id(fact_id)
            record = await self.db.read("get_fact", store.get_record_txn, view, fact_id, small=True)
        if record is None or record["quarantine_status"] == "pending":
            raise NotFound("fact not found")  # a held fact is invisible, as upstream
        if not view.can_see_garden(record["garden_id"]):
            raise Forbidden("not a member of this garden")
        return record

    async def provenance(self, caller: Caller, fact_id: str) -> dict[str, Any]:
        record = await self.get_fact(caller, fact_id)
        view = await self.view_for(caller)
        links = []
        for ref in record["derived_from"]:
            target = None
            hash_ = ref.get("hash") if isinstance(ref.get("hash"), str) else None
            ref_id = ref.get("fact_id") if isinstance(ref.get("fact_id"), str) else None
            if hash_ and CID_RE.match(hash_):
                target = await self.db.read("prov_cid", store.get_record_by_cid_txn, view, hash_)
            elif ref_id and _UUID.match(ref_id):
                target = await self.db.read("prov_id", store.get_record_txn, view, ref_id)
            if target is not None and not view.can_see(target):
                target = None
            links.append(
                {
                    "hash": target["cid"] if target else hash_,
                    "fact_id": target["id"] if target else None,
                    "entity": target["entity"] if target else None,
                    "exists": target is not None,
                }
            )
        return {"fact_id": record["id"], "cid": record["cid"], "derived_from": links}

    async def verify_cid(self, caller: Caller, fact_id: str) -> dict[str, Any]:
        record = await self.get_fact(caller, fact_id)
        value = record["value"]
        computed = compute_cid(
            entity=record["entity"],
            relation=record["relation"],
            value_type=value["type"],
            value_v=encode_v(value["type"], value["v"]),
            source=record["source"],
            confidence=record["confidence"],
            scope=record["scope"],
        )
        stored = record["cid"]
        reason = None
        if stored is None:
            reason = "no stored cid"
        elif stored != computed:
            reason = "stored cid does not match the fact's content"
        return {
            "cid_valid": stored == computed,
            "computed_cid": computed,
            "stored_cid": stored,
            "mismatch_reason": reason,
        }


def check_fact_id(fact_id: str) -> None:
    if not _UUID.match(fact_id):
        raise BadRequest({"code": "invalid_fact_id", "message": "a fact id is a UUID or a CID"})
