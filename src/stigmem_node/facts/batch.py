"""``POST /v1/facts/batch`` in one transaction: all-or-nothing when atomic,
idempotency keys that replay the first response (another body under the same key is 409)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import ValidationError

from stigmem_node.audit.log import record_txn
from stigmem_node.clock import format_ts
from stigmem_node.errors import Conflict, NodeError
from stigmem_node.facts import bulk, store
from stigmem_node.facts.rules import finish_record
from stigmem_node.facts.store import NewFact, WriteContext

_NOT_RUN = {
    "code": "batch_aborted",
    "message": "not written: another item in the atomic batch failed",
}


def validation_error(exc: ValidationError) -> NodeError:
    errors = [
        {"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()
    ]
    return NodeError(errors, status=422)


def batch_txn(
    cur: Any,
    ctx: WriteContext,
    prepared: list[NewFact | NodeError],
    atomic: bool,
    key: tuple[str, str, str] | None,
    writer: str,
) -> dict[str, Any]:
    now = format_ts(ctx.clock.now())
    if key is not None:
        row = cur.execute(
            "SELECT body_digest, response FROM batch_requests"
            " WHERE principal = ? AND idempotency_key = ?",
            key[:2],
        ).fetchone()
        if row is not None:
            if row[0] != key[2]:
                raise Conflict(
                    {
                        "code": "idempotency_key_reused",
                        "message": "this idempotency_key was used with a different body",
                    }
                )
            stored: dict[str, Any] = orjson.loads(row[1])
            return stored
    failed = any(isinstance(entry, NodeError) for entry in prepared)
    results = write_items_txn(cur, ctx, prepared, 0, skip=atomic and failed)
    accepted = sum(1 for r in results if r["status"] == 201)
    if atomic and accepted != len(results):
        # Undo whatever this batch wrote: the caller's savepoint rolls back on raise, so
        # return the failure through an exception carrying the response.
        raise _AtomicFailure(results)
    response = {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
    summary = _batch_outcome(results, atomic, key[1] if key else None)
    record_txn(cur, now, "fact_batch", entity_uri=writer, detail=summary)
    if key is not None:
        cur.execute(
            "INSERT INTO batch_requests (principal, idempotency_key, body_digest, response,"
            " created_at) VALUES (?, ?, ?, ?, ?)",
            (key[0], key[1], key[2], orjson.dumps(response).decode(), now),
        )
    return response


def write_items_txn(
    cur: Any, ctx: WriteContext, prepared: list[NewFact | NodeError], offset: int, skip: bool
) -> list[dict[str, Any]]:
    """Write the checked items of a batch (the first is item ``offset``); their results.

    ``skip``: an atomic batch with a bad item: nothing is written, the good items are 424.
    """
    # No savepoint per item: every rule that can refuse an item ran before the write
    # (``FactService.prepare``); ``assert_fact_txn`` refuses nothing, and an error it raises is
    # the database's, which fails the whole batch (the writer's savepoint undoes it). Nested
    # in the writer's savepoint, one savepoint per item made SQLite copy each page the batch
    # keeps touching into its sub-journal again for every item: a 500-fact batch cost 2.5x
    # more, and more as the database grew.
    writes = [] if skip else [e for e in prepared if isinstance(e, NewFact)]
    if bulk.independent(writes):
        outcomes = iter(bulk.assert_many_txn(cur, ctx, writes))
    else:  # facts that affect each other: one by one, in order
        outcomes = iter([store.assert_fact_txn(cur, ctx, fact) for fact in writes])
    results: list[dict[str, Any]] = []
    for index, entry in enumerate(prepared, offset):
        if isinstance(entry, NodeError):
            results.append({"index": index, "status": entry.status, "detail": entry.detail})
        elif skip:
            results.append({"index": index, "status": 424, "detail": _NOT_RUN})
        else:
            record = finish_record(entry, next(outcomes))
            results.append({"index": index, "status": 201, "fact": record})
    return results


def batch_parts_txn(
    cur: Any, parts: Iterable[list[NewFact | NodeError]], ctx: WriteContext, writer: str
) -> dict[str, Any]:
    """A batch that is neither atomic nor keyed, written part by part as its items are
    checked (``Database.stream``): one transaction, the same answer and audit trail as
    ``batch_txn``."""
    results: list[dict[str, Any]] = []
    for prepared in parts:
        results.extend(write_items_txn(cur, ctx, prepared, len(results), skip=False))
    now = format_ts(ctx.clock.now())
    summary = _batch_outcome(results, False, None)
    record_txn(cur, now, "fact_batch", entity_uri=writer, detail=summary)
    accepted = sum(1 for r in results if r["status"] == 201)
    return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}


def _batch_outcome(
    results: list[dict[str, Any]], atomic: bool, idempotency_key: str | None
) -> dict[str, Any]:
    """The ``fact_batch`` audit detail: counts, and each refused item's status and reason."""
    refused = [
        {"index": r["index"], "status": r["status"], "detail": r["detail"]}
        for r in results
        if r["status"] != 201
    ]
    return {
        "accepted": len(results) - len(refused),
        "rejected": len(refused),
        "atomic": atomic,
        "idempotency_key": idempotency_key,
        "refused": refused[:50],  # bounded: the response itself has them all
    }


class _AtomicFailure(NodeError):
    """An atomic batch failed: nothing is kept; the body reports every item."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        for result in results:
            if result["status"] == 201:
                result.pop("fact", None)
                result["status"] = 424
                result["detail"] = _NOT_RUN
        super().__init__(
            {
                "code": "batch_rejected",
                "message": "atomic batch not written: at least one item failed",
            },
            status=422,
        )
        self.results = results

    def body(self) -> dict[str, Any]:
        return {
            "detail": self.detail,
            "accepted": 0,
            "rejected": len(self.results),
            "results": self.results,
        }
