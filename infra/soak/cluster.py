"""Stigmem nodes as local processes on 127.0.0.1, for ``make demo`` and the soak runner.

Each :class:`LocalNode` owns a data directory (database, log) and a loopback port, and can be
started, stopped (SIGTERM, graceful), killed (SIGKILL, a crash) and restarted on the same
database and port. Nodes die with the process that started them (Linux), so an interrupted
run leaves no node behind. The ``stigmem`` CLI runs against a node's database, as an
operator on that host would.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import httpx
from wire import WireNode

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stigmem_command() -> list[str]:
    """The ``stigmem`` CLI of the interpreter running this script."""
    script = Path(sys.executable).with_name("stigmem")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from stigmem_node.cli import main; main()"]


class NodeError(RuntimeError):
    """A node did not start or stop as expected; the message ends with its log's tail."""


class LocalNode:
    """One ``python -m stigmem_node`` process. ``public_url`` is the URL peers use (a proxy
    in front of the node, in the soak runner); ``url`` reaches the node directly."""

    def __init__(
        self,
        name: str,
        root: Path,
        *,
        env: Mapping[str, str] | None = None,
        public_port: int | None = None,
    ) -> None:
        self.name = name
        self.data_dir = root / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "stigmem.db"
        self.log_path = self.data_dir / "node.log"
        self.port = free_port()
        self.public_port = public_port or self.port
        self.admin_key = secrets.token_urlsafe(32)
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def public_url(self) -> str:
        return f"http://{LOOPBACK}:{self.public_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wire_node(self) -> WireNode:
        return WireNode(self.name, self.public_url, self.admin_key)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STIGMEM_")}
        env.update({
            "PYTHONUNBUFFERED": "1",
            "STIGMEM_DB_PATH": str(self.db_path),
            "STIGMEM_HOST": LOOPBACK,
            "STIGMEM_PORT": str(self.port),
            "STIGMEM_NODE_URL": self.public_url,
            "STIGMEM_BOOTSTRAP_KEY": self.admin_key,
            "STIGMEM_FEDERATION_ENABLED": "true",
            # Loopback plain HTTP: allowed for local runs only (the start-up gate).
            "STIGMEM_FEDERATION_INSECURE": "1",
            "STIGMEM_LOG_LEVEL": "warning",
        })  # fmt: skip
        env.update(self.extra_env)
        return env

    def client(self, timeout: float = 15.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.admin_key}"},
            timeout=timeout,
            trust_env=False,
        )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        if self.running:
            raise NodeError(f"{self.name} is already running")
        self._close_log()
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stigmem_node"],
            env=self.environment(),
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        if not self._wait_healthy(timeout):
            code = self.kill()
            raise NodeError(f"{self.name} did not become healthy (exit {code})\n{self.tail()}")

    def _wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pause = 0.05
        with httpx.Client(base_url=self.url, timeout=2.0, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    return False
                with contextlib.suppress(httpx.TransportError):
                    if http.get("/healthz").status_code == 200:
                        return True
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
        return False

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``); the exit status (0 when graceful)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._close_log()
        return int(self.proc.returncode)

    def kill(self) -> int:
        """SIGKILL: a crash, no shutdown code runs."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
        self._close_log()
        return int(self.proc.returncode)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, chars: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} log ({self.log_path}) ---\n{text[-chars:]}"

    # -- operator commands -----------------------------------------------------------------
    def cli(self, args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """``stigmem <args>`` on this node's database."""
        env = {k: v for k, v in self.environment().items() if k != "STIGMEM_BOOTSTRAP_KEY"}
        return subprocess.run(  # noqa: S603
            [*stigmem_command(), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def cli_runner(nodes: list[LocalNode]) -> Any:
    """A ``wire.Runner`` running the CLI on the local node of the same name."""
    by_name = {node.name: node for node in nodes}

    def run(node: WireNode, args: list[str]) -> subprocess.CompletedProcess[str]:
        return by_name[node.name].cli(args)

    return run
