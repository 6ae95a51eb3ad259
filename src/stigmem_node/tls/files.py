"""The node's certificate files, and values rebuilt from them when they change on disk.

``Reloading`` keeps a value built from files (an ``ssl.SSLContext``) and rebuilds it when
any file's identity changes (inode, size, modification time): a certificate renewed by
replacing the files is used by the next connection, without a restart. Looking costs one
``stat`` per file per connection, nothing next to a TLS handshake. A replacement that does
not load (a key that does not match its certificate, a half-written file) is logged once
and the previous value stays in use until the files change again.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from stigmem_node.config import Settings, SettingsError

log = logging.getLogger("stigmem.tls")

T = TypeVar("T")
Signature = tuple[tuple[int, int, int] | None, ...]
BUILD_ERRORS = (OSError, ssl.SSLError, ValueError)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """``STIGMEM_TLS_CERT_PATH`` / ``_KEY_PATH`` and, for mutual TLS, ``_CA_BUNDLE``."""

    cert: Path
    key: Path
    ca: Path | None

    @property
    def mutual(self) -> bool:
        """Client certificates are requested, verified and bound to peers' node ids."""
        return self.ca is not None

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.cert, self.key) if self.ca is None else (self.cert, self.key, self.ca)


def tls_files(settings: Settings) -> TlsFiles | None:
    """The configured files, or None without TLS. Raises ``SettingsError`` (one line naming
    the variable to set) when the three settings do not fit together."""
    cert, key, ca = (s.strip() for s in (settings.tls_cert_path, settings.tls_key_path,
                                         settings.tls_ca_bundle))  # fmt: skip
    if cert and not key:
        raise SettingsError("STIGMEM_TLS_CERT_PATH is set: set STIGMEM_TLS_KEY_PATH too")
    if key and not cert:
        raise SettingsError("STIGMEM_TLS_KEY_PATH is set: set STIGMEM_TLS_CERT_PATH too")
    if ca and not cert:
        raise SettingsError(
            "STIGMEM_TLS_CA_BUNDLE is set: set STIGMEM_TLS_CERT_PATH and STIGMEM_TLS_KEY_PATH"
            " (the node's own certificate) too"
        )
    if not cert:
        return None
    return TlsFiles(Path(cert).expanduser(), Path(key).expanduser(),
                    Path(ca).expanduser() if ca else None)  # fmt: skip


def signature(paths: tuple[Path, ...]) -> Signature:
    """What changes when a file is replaced or rewritten (None for a missing file)."""
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


class Reloading(Generic[T]):
    """A value built from files, rebuilt when they change. The first build's errors
    propagate (start-up refuses); later ones are logged and the old value stays."""

    def __init__(self, what: str, paths: tuple[Path, ...], build: Callable[[], T]) -> None:
        self._what = what
        self._paths = paths
        self._build = build
        self._signature = signature(paths)
        self._value = build()
        self._failed: Signature | None = None
        self.generation = 0

    def current(self) -> T:
        """The value for the next connection, rebuilt first if the files changed."""
        now = signature(self._paths)
        if now != self._signature and now != self._failed:
            try:
                value = self._build()
            except BUILD_ERRORS as exc:
                self._failed = now
                log.warning("%s: the changed files do not load (%s); still using the previous"
                            " ones", self._what, exc)  # fmt: skip
            else:
                self._value, self._signature, self._failed = value, now, None
                self.generation += 1
                log.info("%s reloaded from %s", self._what, ", ".join(map(str, self._paths)))
        return self._value
