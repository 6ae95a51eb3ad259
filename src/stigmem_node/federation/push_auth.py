"""Who may push: a peer with a peer token, else the holder of a capability token.

Upstream's order (wire §5.4): a peer token first (a failing one falls through when a
capability is offered), then ``X-Stigmem-Capability`` (the token JSON): invalid → 401 with the
reason, a verb other than ``write`` or an object other than ``stigmem://facts[/scope:<s>]`` →
403. Facts pushed under a capability must have the token's subject as ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stigmem_node.clock import format_ts
from stigmem_node.errors import Forbidden, Unauthorized
from stigmem_node.federation import capabilities, store
from stigmem_node.federation.store import PeerRow

if TYPE_CHECKING:
    from stigmem_node.federation.service import Federation

CREDENTIALS_REQUIRED = "peer token or X-Stigmem-Capability header required"


@dataclass(frozen=True, slots=True)
class PushSender:
    peer: PeerRow
    scopes: tuple[str, ...]
    required_source: str | None = None


async def resolve(
    federation: Federation, authorization: str | None, capability: str | None
) -> PushSender:
    """The sender of a push. Raises ``Unauthorized`` / ``Forbidden`` (audited)."""
    if authorization:
        # A presented peer token decides: one that fails (bad signature, replay, certificate
        # SAN mismatch) is a 401 and never falls through to a capability (as upstream).
        auth = await federation.peer_auth.authenticate(authorization)
        return PushSender(auth.peer, auth.claims.scopes)
    if capability:
        return await _capability_sender(federation, capability)
    raise Unauthorized(CREDENTIALS_REQUIRED)


async def _capability_sender(federation: Federation, token_json: str) -> PushSender:
    now = federation.clock.now()
    verified = await federation.db.read(
        "capability_verify", capabilities.verify_txn, federation.capability_keys, token_json, now
    )
    token = verified.token
    token_id = f"capability:{token.get('token_id')}"
    scopes = capabilities.push_scopes(token)
    problem = verified.reason
    if problem is None and token.get("verb") != "write":
        problem = "capability verb must be write"
    elif problem is None and not scopes:
        problem = "capability object does not cover facts"
    event = "capability_verified" if problem is None else "capability_rejected"
    detail = {"reason": problem, "issuer": token.get("issuer"), "subject": token.get("subject")}
    await federation.db.write(
        "capability_audit", store.audit_txn, format_ts(now), event, token_id, detail
    )
    if verified.reason is not None:
        raise Unauthorized(verified.reason)
    if problem is not None or scopes is None:
        raise Forbidden(problem or "capability object does not cover facts")
    issuer = str(token["issuer"])
    peer = PeerRow(
        token_id,
        issuer,
        "",
        "",
        tuple(sorted(scopes)),
        "active",
        None,
        None,
        "",
        "",
        str(token.get("issued_at")),
    )
    return PushSender(peer, tuple(sorted(scopes)), str(token["subject"]))
