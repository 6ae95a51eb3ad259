"""Where the client connects and how patiently: base URL, API key, timeout, retry policy."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from stigmem_node.client.transport import DEFAULT_TIMEOUT_S, DEFAULT_URL, RetryPolicy

URL_ENV = "STIGMEM_URL"
API_KEY_ENV = "STIGMEM_API_KEY"


@dataclass(frozen=True)
class ClientConfig:
    url: str
    api_key: str | None
    timeout_s: float
    retry: RetryPolicy
    session_id: str | None

    @classmethod
    def build(
        cls,
        url: str | None,
        api_key: str | None,
        timeout_s: float | None,
        retry: RetryPolicy | None,
        session_id: str | None,
    ) -> ClientConfig:
        """Checked settings.

        Raises:
            ValueError: the URL is not http(s), the timeout is not a positive number, or the
                key or session id holds characters an HTTP header cannot carry.
        """
        base = (url or DEFAULT_URL).strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the node URL must start with http:// or https:// (got {url!r})")
        seconds = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError("timeout_s must be a positive number of seconds")
        key = api_key.strip() if api_key else None
        for name, value in (("API key", key), ("session id", session_id)):
            if value is not None and not _header_safe(value):
                raise ValueError(f"the {name} must be printable ASCII without line breaks")
        return cls(base, key or None, seconds, retry or RetryPolicy(), session_id)

    @classmethod
    def from_env(cls) -> ClientConfig:
        """``STIGMEM_URL`` and ``STIGMEM_API_KEY`` (the variables upstream's tools read)."""
        return cls.build(os.environ.get(URL_ENV), os.environ.get(API_KEY_ENV), None, None, None)


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()
