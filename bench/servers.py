"""Server processes under test: a real ``stigmem-node`` and the bare-FastAPI ceiling.

Both listen only on 127.0.0.1 on a free port, are started with a clean ``STIGMEM_*``
environment, are waited for on ``/healthz``, and are stopped (SIGTERM, then SIGKILL) when
the bench ends, whatever happens.
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

import httpx

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
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, RuntimeError):
            return None
        # utime and stime are fields 14 and 15 of stat(5): 12th and 13th after the ")".
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

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


def ceiling_server(workdir: Path) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "bench.ceiling_app", "--port", str(port)]
    return ServerProcess("ceiling", argv, _clean_env(), port, workdir)
