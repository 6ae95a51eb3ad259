"""Server processes under test: real ``stigmem-node`` processes and the bare-FastAPI ceiling.

Every process listens only on 127.0.0.1 on a free port of its own, is started with a clean
``STIGMEM_*`` environment, is waited for on ``/healthz``, and is stopped (SIGTERM, then
SIGKILL) when the bench ends, whatever happens. A ``ServerGroup`` is N such processes of one
kind (N nodes on one database, or N ceiling apps): there is no load balancer, the load
generator spreads its connections over their ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from bench.storage import Store

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-admin-key-0123456789abcdefghijklmnopqrstuv"
_PR_SET_PDEATHSIG = 1
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
RATE_LIMIT = str(10**12)  # per hour: far above anything one machine can serve


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the bench itself dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (all threads), None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # utime and stime are fields 14 and 15 of stat(5): 12th and 13th after the ")".
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STIGMEM_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def node_command() -> list[str]:
    """The installed ``stigmem-node`` script next to this interpreter, else ``-m``."""
    script = Path(sys.executable).parent / "stigmem-node"
    if script.exists():
        return [str(script)]
    found = shutil.which("stigmem-node")
    return [found] if found else [sys.executable, "-m", "stigmem_node"]


class ServerProcess:
    """One server child process; a context manager that always stops it."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, cwd: Path):
        self.name = name
        self.port = port
        self._argv = argv
        self._env = env
        self._cwd = cwd
        self._log = cwd / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.proc.pid

    def start(self, timeout_s: float = 60.0) -> None:
        with self._log.open("ab") as log:
            self.proc = subprocess.Popen(
                self._argv,
                env=self._env,
                cwd=self._cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + timeout_s
        url = f"http://{HOST}:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up: {self.log_tail()}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not healthy within {timeout_s}s: {self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self._log.read_text("utf-8", "replace")[-chars:]
        except OSError:
            return ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the process so far (all threads), None without /proc."""
        try:
            return proc_cpu_seconds(self.pid)
        except RuntimeError:
            return None

    def memory(self) -> dict[str, float]:
        """Memory figures (MiB) from ``/proc``; empty where /proc is missing.

        ``rss`` = ``anon`` (heap, SQLite page caches) + ``file`` (mapped files: code, and
        SQLite's memory map of the database, once per connection) + shmem; ``hwm`` is the
        peak RSS so far; ``pss`` shares out pages mapped more than once.
        """
        fields = {"VmRSS": "rss", "VmHWM": "hwm", "RssAnon": "anon", "RssFile": "file"}
        out: dict[str, float] = {}
        try:
            lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        except OSError:
            return out
        for line in lines:
            key, _, rest = line.partition(":")
            if key in fields:
                out[fields[key]] = round(int(rest.split()[0]) / 1024, 1)
        with contextlib.suppress(OSError):  # PSS counts a page mapped N times once
            for line in Path(f"/proc/{self.pid}/smaps_rollup").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key == "Pss":
                    out["pss"] = round(int(rest.split()[0]) / 1024, 1)
        return out


def node_server(
    name: str,
    workdir: Path,
    db_path: Path,
    *,
    auth: bool = True,
    synchronous: str = "full",
    extra_env: dict[str, str] | None = None,
) -> ServerProcess:
    """A ``stigmem-node`` on a fresh port over ``db_path`` (auth with ``BENCH_KEY``)."""
    port = free_port()
    env = _clean_env(
        STIGMEM_DB_PATH=str(db_path),
        STIGMEM_HOST=HOST,
        STIGMEM_PORT=str(port),
        STIGMEM_NODE_URL=f"http://{HOST}:{port}",
        STIGMEM_LOG_LEVEL="warning",
        STIGMEM_SQLITE_SYNCHRONOUS=synchronous,
        STIGMEM_AUTH_REQUIRED="true" if auth else "false",
        **({"STIGMEM_BOOTSTRAP_KEY": BENCH_KEY} if auth else {}),
        # Buckets stay on the hot path (their cost is measured) but never refuse the bench.
        STIGMEM_RATE_LIMIT_WRITE_PER_HOUR=RATE_LIMIT,
        STIGMEM_RATE_LIMIT_READ_PER_HOUR=RATE_LIMIT,
        STIGMEM_RATE_LIMIT_ADMIN_PER_HOUR=RATE_LIMIT,
        **(extra_env or {}),
    )
    return ServerProcess(name, node_command(), env, port, workdir)


def ceiling_server(workdir: Path, name: str = "ceiling") -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "bench.ceiling_app", "--port", str(port)]
    return ServerProcess(name, argv, _clean_env(), port, workdir)


MEMORY_KEYS = ("rss", "anon", "file", "pss", "hwm")


class ServerGroup:
    """N server processes of one kind, each on its own port; a context manager that starts
    them one after another (the first node migrates a fresh database) and always stops all.

    ``store`` is the database the nodes share (None for the ceiling app)."""

    def __init__(self, servers: list[ServerProcess], store: Store | None = None) -> None:
        if not servers:
            raise ValueError("a group needs at least one process")
        self.servers = servers
        self.store = store

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def port(self) -> int:
        """The first process's port (for one-off requests)."""
        return self.servers[0].port

    def __len__(self) -> int:
        return len(self.servers)

    def __enter__(self) -> ServerGroup:
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def cpu_seconds(self) -> float | None:
        """CPU time of every process of the group, summed (None without /proc)."""
        total = 0.0
        for server in self.servers:
            cpu = server.cpu_seconds()
            if cpu is None:
                return None
            total += cpu
        return total

    def db_cpu_seconds(self) -> float | None:
        """CPU time of the database server's processes serving the group (PostgreSQL on
        this machine only)."""
        return self.store.db_cpu_seconds() if self.store is not None else None

    def memory(self) -> dict[str, float]:
        """``ServerProcess.memory`` summed over the processes (plus ``procs`` when N > 1)."""
        per = [server.memory() for server in self.servers]
        out: dict[str, float] = {}
        for key in MEMORY_KEYS:
            if all(key in m for m in per):
                out[key] = round(sum(m[key] for m in per), 1)
        if len(per) > 1:
            out["procs"] = len(per)
            if all("rss" in m for m in per):
                out["rss_max"] = max(m["rss"] for m in per)
        return out

    def largest_memory(self) -> dict[str, float]:
        """``ServerProcess.memory`` of the process with the largest RSS (what one process
        needs: the CONTRACT's memory target is per process)."""
        per = [server.memory() for server in self.servers]
        return max(per, key=lambda m: m.get("rss", 0.0))

    def log_tail(self, chars: int = 2000) -> str:
        return "\n".join(s.log_tail(chars) for s in self.servers)


def _member(name: str, i: int, count: int) -> str:
    return name if count == 1 else f"{name}-p{i}"


def node_group(
    name: str,
    workdir: Path,
    store: Store,
    procs: int = 1,
    *,
    auth: bool = True,
    extra_env: dict[str, str] | None = None,
) -> ServerGroup:
    """``procs`` ``stigmem-node`` processes over ``store`` (one SQLite file or one PostgreSQL
    database), each on its own port, all with the bench's admin key (``BENCH_KEY``)."""
    env = {**store.node_env(), **(extra_env or {})}
    db_path = Path(env.pop("STIGMEM_DB_PATH"))
    servers = [
        node_server(_member(name, i, procs), workdir, db_path, auth=auth, extra_env=env)
        for i in range(procs)
    ]
    return ServerGroup(servers, store)


def ceiling_group(workdir: Path, procs: int = 1) -> ServerGroup:
    """``procs`` bare-FastAPI ceiling apps, each on its own port."""
    return ServerGroup(
        [ceiling_server(workdir, _member("ceiling", i, procs)) for i in range(procs)]
    )
