"""``stigmem backup``: a consistent copy of a live database through SQLite's backup API.

The copy is taken in one step (one read transaction on the source), so in WAL mode it never
blocks the running node's writers and never restarts because of them; it is written to a
private temporary file beside the destination, checked (``PRAGMA quick_check``), flushed to
disk, and only then renamed into place: the destination is either absent or a whole backup.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stigmem_node.portability.errors import PortabilityError


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    bytes: int
    schema_version: int
    facts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "backup": str(self.path),
            "bytes": self.bytes,
            "schema_version": self.schema_version,
            "facts": self.facts,
            "check": "ok",
        }


def backup_database(source: Path, dest: Path) -> BackupResult:
    """Copy ``source`` to the new file ``dest``. Raises ``PortabilityError`` if refused."""
    if not source.is_file():
        raise PortabilityError(f"no database at {source}")
    if dest.exists():
        raise PortabilityError(f"{dest} already exists; a backup never overwrites a file")
    if not dest.parent.is_dir():
        raise PortabilityError(f"directory {dest.parent} does not exist")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        _copy(source, partial)
        result = _check(partial, dest)
        _fsync(partial)
        os.replace(partial, dest)
        _fsync(dest.parent)
    finally:
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return result


def _copy(source: Path, partial: Path) -> None:
    # Created empty and private first, so the data never sits in a world-readable file.
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    src = sqlite3.connect(str(source))
    dst = sqlite3.connect(str(partial))
    try:
        src.execute("PRAGMA busy_timeout = 10000")
        src.execute("PRAGMA query_only = ON")
        src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
    except sqlite3.Error as exc:
        raise PortabilityError(f"backup of {source} failed: {exc}") from None
    finally:
        dst.close()
        src.close()


def _check(partial: Path, dest: Path) -> BackupResult:
    conn = sqlite3.connect(str(partial))
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise PortabilityError(f"the copy failed its integrity check: {verdict}")
        version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
        facts = conn.execute("SELECT COUNT(*) FROM facts").fetchone()[0]
    except sqlite3.Error as exc:
        raise PortabilityError(f"the copy is not a stigmem database: {exc}") from None
    finally:
        conn.close()
    return BackupResult(dest, partial.stat().st_size, int(version or 0), int(facts))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
