"""Where the nodes under test keep their data: a SQLite file, or a PostgreSQL database.

A *configuration* is one engine and a number of node processes (``sqlite``, ``postgres``,
``postgres-x2``, …); every scenario of the run is measured once per configuration, and every
figure's name starts with the configuration's label, so figures of different engines never
mix. Each scenario asks for *fresh* stores: a new SQLite file in the work directory, or a new,
empty PostgreSQL database created on the server the bench was given
(``--database-url`` / ``STIGMEM_BENCH_DATABASE_URL``) and dropped (``WITH (FORCE)``) when the
scenario ends, whatever happens. The node migrates it at start-up, as in production (or
the bench does, with the node's own engine, before pre-loading rows).

On PostgreSQL the node's own CPU no longer includes the database's: when the server runs on
this machine, the bench also reads the CPU time of the server processes (backends) serving
the scenario's database from ``/proc`` (``db_cpu``); elsewhere that figure is absent.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bench.servers import proc_cpu_seconds

ENGINES = ("sqlite", "postgres")
EngineName = Literal["sqlite", "postgres"]
URL_ENV = "STIGMEM_BENCH_DATABASE_URL"
DB_PREFIX = "stigmem_bench_"
_LOCAL_HOSTS = {"", "127.0.0.1", "localhost", "::1"}


class StorageUnavailable(RuntimeError):
    """The PostgreSQL server cannot be used (unreachable, or the role may not create
    databases)."""


@dataclass(frozen=True, slots=True)
class Config:
    """One engine and a number of node processes sharing its database."""

    engine: EngineName
    node_procs: int = 1

    @property
    def label(self) -> str:
        """The prefix of every figure measured in this configuration."""
        return self.engine if self.node_procs == 1 else f"{self.engine}-x{self.node_procs}"


@dataclass(slots=True)
class Store:
    """One fresh database of one scenario."""

    engine: EngineName
    name: str
    path: Path  # the SQLite file; on PostgreSQL the node's data path (its directory only)
    url: str | None = None  # PostgreSQL: the database's URL
    database: str | None = None  # PostgreSQL: the database's name
    _backend: PostgresBackend | None = field(default=None, repr=False)

    def node_env(self) -> dict[str, str]:
        """The environment that points a ``stigmem-node`` at this store."""
        env = {"STIGMEM_DB_PATH": str(self.path)}
        if self.url is not None:
            env["STIGMEM_DATABASE_URL"] = self.url
        return env

    def db_cpu_seconds(self) -> float | None:
        """CPU time of the database server's processes serving this store (PostgreSQL on
        this machine); None for SQLite (its work is in the node's own CPU) or when unknown."""
        if self._backend is None or self.database is None:
            return None
        return self._backend.cpu_seconds(self.database)


class SqliteBackend:
    """Fresh SQLite files in the configuration's work directory."""

    engine: EngineName = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    @contextlib.contextmanager
    def fresh(self, name: str) -> Iterator[Store]:
        path = self.workdir / f"{name}.db"
        try:
            yield Store("sqlite", name, path)
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    path.with_name(path.name + suffix).unlink()

    @staticmethod
    def describe() -> dict[str, Any]:
        return {"version": sqlite3.sqlite_version, "synchronous": "full"}


def redact(url: str) -> str:
    """``url`` without its password."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` with its database name replaced by ``name``."""
    base, sep, query = admin_url.partition("?")
    parts = urlsplit(base)
    if parts.scheme not in ("postgresql", "postgres") or not parts.netloc:
        raise ValueError("expected postgresql://user@host:port/database")
    if parts.path.strip("/"):
        base = base.rsplit("/", 1)[0]
    return f"{base.rstrip('/')}/{name}{sep}{query}"


class PostgresBackend:
    """Fresh databases on one PostgreSQL server, created and dropped through ``admin_url``
    (any database the role may connect to; the role needs ``CREATEDB``)."""

    engine: EngineName = "postgres"

    def __init__(self, admin_url: str, workdir: Path) -> None:
        import psycopg

        self.admin_url = admin_url
        self.workdir = workdir
        self.token = secrets.token_hex(4)  # this run's databases: stigmem_bench_<token>_*
        try:
            self._admin = psycopg.connect(
                admin_url, autocommit=True, connect_timeout=10, application_name="stigmem-bench"
            )
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            password = urlsplit(admin_url.partition("?")[0]).password
            if password:
                first = first.replace(password, "***")
            raise StorageUnavailable(f"cannot connect to {redact(admin_url)}: {first}") from None
        row = self._admin.execute(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if not row or not row[0]:
            self._admin.close()
            raise StorageUnavailable(f"the role of {redact(admin_url)} may not CREATE DATABASE")
        self._local = self._same_host()

    @property
    def prefix(self) -> str:
        return f"{DB_PREFIX}{self.token}_"

    def close(self) -> None:
        self._admin.close()

    @contextlib.contextmanager
    def fresh(self, name: str) -> Iterator[Store]:
        database = (self.prefix + re.sub(r"[^a-z0-9_]", "_", name.lower()))[:63]
        self._admin.execute(f'CREATE DATABASE "{database}" TEMPLATE template0')
        try:
            yield Store(
                "postgres",
                name,
                self.workdir / f"{name}.db",
                url=database_url(self.admin_url, database),
                database=database,
                _backend=self,
            )
        finally:
            self._admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def leftovers(self) -> list[str]:
        """Databases of this run still on the server (none once the run is over)."""
        rows = self._admin.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (self.prefix,)
        ).fetchall()
        return [r[0] for r in rows]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"server": redact(self.admin_url), "databases": self.prefix + "*"}
        for setting in ("server_version", "fsync", "synchronous_commit", "full_page_writes",
                        "shared_buffers"):  # fmt: skip
            row = self._admin.execute(
                "SELECT setting FROM pg_settings WHERE name = %s", (setting,)
            ).fetchone()
            out[setting] = row[0] if row else None
        out["db_cpu_measured"] = self._local
        return out

    def durable(self) -> bool:
        info = self.describe()
        return bool(info["fsync"] == "on" and info["synchronous_commit"] != "off")

    # -- CPU of the server's processes (same machine only) -------------------------------
    def _same_host(self) -> bool:
        """Whether the server's processes are visible in this machine's ``/proc``."""
        host = urlsplit(self.admin_url.partition("?")[0]).hostname or ""
        if host not in _LOCAL_HOSTS:
            return False
        row = self._admin.execute("SELECT pg_backend_pid()").fetchone()
        return row is not None and proc_cpu_seconds(int(row[0])) is not None

    def backend_pids(self, database: str) -> list[int]:
        rows = self._admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def cpu_seconds(self, database: str) -> float | None:
        """CPU time so far of the backends now connected to ``database`` (a backend that
        ended since the last call takes its CPU time with it: pools here are stable)."""
        if not self._local:
            return None
        total = 0.0
        for pid in self.backend_pids(database):
            cpu = proc_cpu_seconds(pid)
            if cpu is not None:
                total += cpu
        return total

    def pid_cpu_seconds(self, pid: int) -> float | None:
        return proc_cpu_seconds(pid) if self._local else None


Backend = SqliteBackend | PostgresBackend
