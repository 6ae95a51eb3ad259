"""Attestation: an Ed25519 signature by a registered agent key over the fact's content.

The signed bytes are the UTF-8 encoding of ``entity\\nrelation\\ntype\\nencoded_v\\nsource``,
built from the **raw request strings** (before entity/source normalisation) and the stored
encoding of ``v`` (``facts.values.encode_v``), exactly as upstream signs them. Nothing
time-bound is signed: an attestation stays valid for identical content.

Check order and texts are upstream's: key not found (400), key revoked (400), key of another
entity (403), bad signature (400); with ``STIGMEM_ATTESTATION_REQUIRED`` a missing attestation
is 400. Every refusal is also recorded as a coalesced ``attestation_failed`` security event.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature

from stigmem_node.audit.security import SecurityAudit
from stigmem_node.auth.agent_keys import AgentKeyService, b64url_decode
from stigmem_node.auth.caller import Caller
from stigmem_node.errors import BadRequest, Forbidden, NodeError
from stigmem_node.facts.models import AssertRequest
from stigmem_node.facts.values import encode_v

REQUIRED = "attestation required; register an agent key at POST /v1/auth/agent-keys"
BAD_SIGNATURE = "attestation signature verification failed"
OTHER_ENTITY = "attestation key belongs to a different entity"


def signed_message(
    entity: str, relation: str, value_type: str, encoded_v: str, source: str
) -> bytes:
    """The exact bytes an agent signs for one fact."""
    return f"{entity}\n{relation}\n{value_type}\n{encoded_v}\n{source}".encode()


def message_for(req: AssertRequest) -> bytes:
    value = req.value
    return signed_message(
        req.entity, req.relation, value.type, encode_v(value.type, value.v), req.source
    )


class Attestor:
    """Checks a request's attestation; installed on the fact service by the node."""

    def __init__(self, keys: AgentKeyService, audit: SecurityAudit, *, required: bool) -> None:
        self._keys = keys
        self._audit = audit
        self.required = required

    async def __call__(self, caller: Caller, req: AssertRequest) -> str | None:
        """The attesting key's id, None when unattested (and allowed). Raises ``NodeError``."""
        try:
            return await self._check(caller, req)
        except NodeError as exc:
            self._audit.record(
                "attestation_failed",
                (caller.entity_uri, str(exc.detail)[:200]),
                entity_uri=caller.entity_uri,
                detail={
                    "reason": exc.detail,
                    "key_id": req.attestation.key_id if req.attestation else None,
                },
            )
            raise

    async def _check(self, caller: Caller, req: AssertRequest) -> str | None:
        token = req.attestation
        if token is None:
            if self.required:
                raise BadRequest(REQUIRED)
            return None
        found = await self._keys.lookup(token.key_id)
        if found is None:
            raise BadRequest(f"attestation.key_id {token.key_id!r} not found")
        key, verifier = found
        if key.status != "active":
            raise BadRequest(f"attestation.key_id {token.key_id!r} has been revoked")
        if key.entity_uri != caller.entity_uri:
            raise Forbidden(OTHER_ENTITY)
        try:
            signature = b64url_decode(token.signature)
            if len(signature) != 64:
                raise ValueError("an Ed25519 signature is 64 bytes")
            verifier.verify(signature, message_for(req))
        except (ValueError, InvalidSignature):
            raise BadRequest(BAD_SIGNATURE) from None
        return key.id
