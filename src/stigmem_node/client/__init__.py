"""Python client of a Stigmem node (HTTP only): ``StigmemClient`` and ``AsyncStigmemClient``.

    from stigmem_node.client import StigmemClient

    with StigmemClient("http://localhost:8765", api_key=KEY) as memory:
        fact = memory.assert_fact("user:alice", "pref:color", "blue", "agent:bot")
        for f in memory.iter_facts(entity="user:alice"):
            print(f.relation, f.value.v)

Method names follow upstream's ``stigmem-py`` (``assert_fact``, ``query_facts``, ``get_fact``,
``retract``, ``recall``, ``list_conflicts``...). 429 and 503 answers are retried with backoff,
honouring ``Retry-After``; errors are ``StigmemError`` subclasses carrying the server's detail.
"""

from stigmem_node.client.aio import AsyncStigmemClient
from stigmem_node.client.config import API_KEY_ENV, URL_ENV, ClientConfig
from stigmem_node.client.errors import (
    APIError,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    ConnectionFailed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ResponseFormatError,
    ServerError,
    StigmemError,
    Unavailable,
    Unprocessable,
)
from stigmem_node.client.models import (
    BatchResult,
    ConflictPage,
    Fact,
    FactPage,
    FactValue,
    Garden,
    GardenMember,
    Identity,
    Job,
    LintReport,
    Peer,
    RecallResult,
    Resolution,
)
from stigmem_node.client.routes import new_fact
from stigmem_node.client.sync import StigmemClient
from stigmem_node.client.transport import NO_RETRY, RetryPolicy

__all__ = [
    "API_KEY_ENV",
    "NO_RETRY",
    "URL_ENV",
    "APIError",
    "AsyncStigmemClient",
    "AuthenticationFailed",
    "BadRequest",
    "BatchResult",
    "ClientConfig",
    "Conflict",
    "ConflictPage",
    "ConnectionFailed",
    "Fact",
    "FactPage",
    "FactValue",
    "Garden",
    "GardenMember",
    "Identity",
    "Job",
    "LintReport",
    "NotFound",
    "PayloadTooLarge",
    "Peer",
    "PermissionDenied",
    "RateLimited",
    "RecallResult",
    "Resolution",
    "ResponseFormatError",
    "RetryPolicy",
    "ServerError",
    "StigmemClient",
    "StigmemError",
    "Unavailable",
    "Unprocessable",
    "new_fact",
]
