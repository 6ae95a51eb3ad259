"""Real ``stigmem-node`` processes for tests: start, wait for health, stop, kill, restart.

A :class:`NodeProcess` owns one data directory (database, ``admin.key``, captured output) and
one loopback port. It can be stopped and started again on the same database and port (restart),
killed with SIGKILL (crash), and several can run at once (federation). Every failure message
carries the tail of the node's captured output.

Usage::

    with NodeProcess(tmp_path / "a") as node:
        with node.client() as http:
            http.post("/v1/facts", json=...)

or, for several nodes cleaned up at the end of a test, the ``node_factory`` fixture
(register with ``pytest_plugins = ["tests.process"]`` in the root conftest, or import it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx
import pytest

LOOPBACK = "127.0.0.1"
DEFAULT_ADMIN_KEY = "process-admin-key-0123456789abcdefghijklmnopqr"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
_TAIL_CHARS = 4000
_PR_SET_PDEATHSIG = 1


def module_command() -> list[str]:
    """``python -m stigmem_node`` with the interpreter running the tests."""
    return [sys.executable, "-m", "stigmem_node"]


def script_command() -> list[str]:
    """The ``stigmem-node`` console script installed next to the test interpreter."""
    script = Path(sys.executable).with_name("stigmem-node")
    if not script.exists():
        raise FileNotFoundError(f"console script not installed: {script}")
    return [str(script)]


def free_port() -> int:
    """A loopback port that was free a moment ago (the node may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def clean_environ() -> dict[str, str]:
    """The test process's environment without any ``STIGMEM_*`` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("STIGMEM_")}


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the test process dies, so no node outlives it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class NodeProcessError(AssertionError):
    """The node did not start, stop or exit as expected; the message holds its output."""


class NodeProcess:
    """One ``stigmem-node`` process on ``127.0.0.1`` with its own data directory.

    ``env`` adds ``STIGMEM_*`` settings. Unless ``minimal`` is set, the helper also sets
    ``STIGMEM_NODE_URL`` to the real base URL, ``STIGMEM_BOOTSTRAP_KEY`` to ``admin_key``
    (pass ``admin_key=None`` to let the node write ``admin.key`` itself) and
    ``STIGMEM_SQLITE_SYNCHRONOUS=normal`` (tests do not need fsync durability). With
    ``minimal`` only ``STIGMEM_DB_PATH``, ``STIGMEM_PORT``, ``STIGMEM_HOST`` and ``env``
    are set, as an operator would. With ``https`` (the context clients verify the node with)
    the node is reached over HTTPS; ``env`` then carries its ``STIGMEM_TLS_*`` settings.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        admin_key: str | None = DEFAULT_ADMIN_KEY,
        command: Sequence[str] | None = None,
        port: int | None = None,
        minimal: bool = False,
        name: str = "node",
        https: ssl.SSLContext | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "stigmem.db"
        self.log_path = self.data_dir / f"{name}.log"
        self.extra_env = dict(env or {})
        self.command = list(command or module_command())
        self.minimal = minimal
        self.name = name
        self.https = https
        self._admin_key = admin_key
        self._fixed_port = port
        self.port = port or 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    # -- addresses and credentials ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{'https' if self.https else 'http'}://{LOOPBACK}:{self.port}"

    @property
    def admin_key(self) -> str:
        """The admin key: the configured bootstrap key, else the node's ``admin.key``."""
        if self._admin_key is not None:
            return self._admin_key
        key_file = self.data_dir / "admin.key"
        if not key_file.exists():
            raise NodeProcessError(f"{self.name}: no admin key configured and no {key_file}")
        return key_file.read_text().strip()

    @property
    def auth_required(self) -> bool:
        return self.extra_env.get("STIGMEM_AUTH_REQUIRED", "true").lower() not in {"false", "0"}

    def client(self, *, auth: bool = True, timeout: float = 15.0) -> httpx.Client:
        """An HTTP client for this node, carrying the admin key unless ``auth`` is false."""
        headers = {"Authorization": f"Bearer {self.admin_key}"} if auth else {}
        return httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, verify=self.https or True
        )

    def environment(self) -> dict[str, str]:
        env = clean_environ()
        env["PYTHONUNBUFFERED"] = "1"
        env["STIGMEM_DB_PATH"] = str(self.db_path)
        env["STIGMEM_PORT"] = str(self.port)
        env["STIGMEM_HOST"] = LOOPBACK
        if not self.minimal:
            env["STIGMEM_NODE_URL"] = self.base_url
            env["STIGMEM_SQLITE_SYNCHRONOUS"] = "normal"
            if self._admin_key is not None:
                env["STIGMEM_BOOTSTRAP_KEY"] = self._admin_key
        env.update(self.extra_env)
        return env

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, timeout: float = START_TIMEOUT_S) -> NodeProcess:
        """Start the node and wait until ``/healthz`` answers 200.

        A node that loses its (freshly picked) port to another process is retried on a new
        port, a bounded number of times. Raises NodeProcessError with the node's output if it
        exits or stays unhealthy.
        """
        if self.running:
            raise NodeProcessError(f"{self.name} is already running")
        # A restart keeps its port (peers know the node by its URL); a first start may retry.
        may_move = not self._fixed_port and self.starts == 0
        for _attempt in range(3):
            if may_move:
                self.port = free_port()
            self._spawn()
            if self._wait_healthy(timeout):
                self.starts += 1
                return self
            self._terminate_hard()
            if not may_move or "address already in use" not in self.output():
                break
        code = self.proc.returncode if self.proc else None
        raise NodeProcessError(
            f"{self.name} did not become healthy (exit status {code})\n{self.output_tail()}"
        )

    def _spawn(self) -> None:
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"--- start {self.starts + 1}: {' '.join(self.command)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.command,
            env=self.environment(),
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at the terminal reaches only the test process
            preexec_fn=_die_with_parent,
        )

    def _wait_healthy(self, timeout: float) -> bool:
        """Poll ``/healthz`` with a short backoff until 200, the process exits, or timeout."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        pause = 0.01
        with httpx.Client(base_url=self.base_url, timeout=2.0, verify=self.https or True) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                with contextlib.suppress(httpx.TransportError):
                    if http.get("/healthz").status_code == 200:
                        return True
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
        return False

    def stop(self, *, timeout: float = STOP_TIMEOUT_S, check: bool = True) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit status.

        With ``check``, raises NodeProcessError unless the node exited 0 on its own and its
        output holds no traceback.
        """
        proc = self._require_proc()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._terminate_hard()
                raise NodeProcessError(
                    f"{self.name} did not exit within {timeout}s of SIGTERM\n{self.output_tail()}"
                ) from None
        self._close_log()
        code = proc.returncode
        if check:
            self.check_clean_exit(code)
        return code

    def check_clean_exit(self, code: int) -> None:
        if code != 0:
            raise NodeProcessError(f"{self.name} exited {code}, not 0\n{self.output_tail()}")
        if "Traceback (most recent call last)" in self.output():
            raise NodeProcessError(f"{self.name} logged a traceback\n{self.output_tail()}")

    def kill(self) -> int:
        """SIGKILL (a crash): no shutdown runs. Returns the exit status (-9)."""
        proc = self._require_proc()
        self._terminate_hard()
        return proc.returncode

    def restart(self, *, timeout: float = START_TIMEOUT_S) -> NodeProcess:
        """Stop cleanly (if running) and start again on the same database and port."""
        if self.running:
            self.stop()
        return self.start(timeout=timeout)

    def send_signal(self, sig: int) -> None:
        self._require_proc().send_signal(sig)

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Wait for the process to exit on its own; NodeProcessError after ``timeout``."""
        proc = self._require_proc()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise NodeProcessError(
                f"{self.name} still running after {timeout}s\n{self.output_tail()}"
            ) from None

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if self.proc is None:
            raise NodeProcessError(f"{self.name} was never started")
        return self.proc

    def _terminate_hard(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- output ----------------------------------------------------------------------------
    def output(self) -> str:
        """Everything the node wrote to stdout/stderr, over all its starts."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def last_output(self) -> str:
        """What the node wrote since its latest start."""
        return self.output().rpartition("--- start ")[2]

    def output_tail(self) -> str:
        text = self.output()
        cut = text[-_TAIL_CHARS:]
        return f"--- {self.name} output ({self.log_path}) ---\n{cut}"

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> NodeProcess:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.running:
            self._close_log()
            return
        # Do not hide the test's own failure behind a shutdown complaint.
        self.stop(check=exc_type is None)


class NodeFactory:
    """Creates named nodes under one directory; stops every running one on ``close``.

    ``database_url(data_dir)``, when given, is each node's PostgreSQL database (the test's
    engine, see ``tests.pg``); a node whose ``env`` names one itself keeps it.
    """

    def __init__(self, root: Path, database_url: Callable[[Path], str] | None = None) -> None:
        self.root = root
        self.nodes: list[NodeProcess] = []
        self._database_url = database_url

    def __call__(self, name: str = "node", *, start: bool = True, **kwargs: Any) -> NodeProcess:
        if any(n.name == name for n in self.nodes):
            raise ValueError(f"a node named {name!r} already exists")
        if self._database_url is not None:
            env = dict(kwargs.pop("env", None) or {})
            env.setdefault("STIGMEM_DATABASE_URL", self._database_url(self.root / name))
            kwargs["env"] = env
        node = NodeProcess(self.root / name, name=name, **kwargs)
        self.nodes.append(node)
        return node.start() if start else node

    def close(self, *, check: bool = True) -> None:
        """Stop every running node (all of them, even if one fails), then report failures."""
        errors: list[str] = []
        for node in self.nodes:
            if node.running:
                try:
                    node.stop(check=check)
                except NodeProcessError as exc:
                    errors.append(str(exc))
            else:
                node._close_log()
        if errors:
            raise NodeProcessError("\n\n".join(errors))


@pytest.fixture
def node_factory(tmp_path: Path, storage: Any) -> Iterator[NodeFactory]:
    """Start real nodes with ``node_factory("a", env={...})``; all are stopped at teardown.

    On the test's engine: with PostgreSQL each node gets a database of its own."""
    factory = NodeFactory(
        tmp_path / "nodes",
        (lambda d: storage.settings_for(d)["database_url"])
        if storage.engine == "postgres"
        else None,
    )
    try:
        yield factory
    finally:
        factory.close()
