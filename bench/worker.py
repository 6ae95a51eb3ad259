"""One load-generator process: N keep-alive HTTP/1.1 connections over asyncio streams.

Runs in a child process (never in the server's), on uvloop when available. Each connection
sends one request, reads the whole response, records the latency, and repeats until the
round's deadline or its request budget. Responses are checked (status and an optional body
substring); anything else, a dropped connection or a request still pending at the hard stop
counts as an error. With several server processes (one port each, no load balancer),
connection ``g`` of the round (numbered across all generator processes) talks to port
``g mod len(ports)``, so connections are spread evenly over the processes.
"""

from __future__ import annotations

import asyncio
import os
import time
from array import array
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from bench.plans import RequestFactory, RequestPlan, build_factory

MAX_ERROR_SAMPLES = 5


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    host: str
    ports: tuple[int, ...]  # the server's processes; connections are spread over them
    plan: RequestPlan
    connections: int
    first_connection: int  # number (in the whole round) of this worker's first connection
    start_at: float  # time.time() at which every worker begins sending
    duration_s: float
    max_requests: int  # this worker's budget for the round
    timeout_s: float  # how long past the deadline a request may still take
    stream: str  # unique per worker and round: makes written facts distinct


@dataclass(slots=True)
class WorkerResult:
    ok: int = 0
    ok_per_port: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    started: float = 0.0
    finished: float = 0.0
    cpu_s: float = 0.0

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(text[:300])


class HttpError(Exception):
    """The server answered something this bench cannot read as HTTP/1.1."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """``(status, body, keep_alive)`` of one response (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 ") or len(head) < 12:
        raise HttpError(f"bad status line {head[:40]!r}")
    status = int(head[9:12])
    lower = head.lower()
    keep_alive = b"\r\nconnection: close" not in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        body = await reader.readexactly(int(lower[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        body = await _read_chunked(reader)
    else:
        raise HttpError("response without Content-Length")
    return status, body, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class _Budget:
    def __init__(self, count: int) -> None:
        self.left = count

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def port_of(ports: tuple[int, ...], connection: int) -> int:
    """The port connection number ``connection`` of a round talks to."""
    return ports[connection % len(ports)]


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port, limit=1 << 22)


async def _connection(
    spec: WorkerSpec,
    index: int,
    factory: RequestFactory,
    budget: _Budget,
    result: WorkerResult,
) -> None:
    plan = spec.plan
    port = port_of(spec.ports, index)
    reader, writer = await _connect(spec.host, port)
    await asyncio.sleep(max(0.0, spec.start_at - time.time()))
    deadline = time.perf_counter() + spec.duration_s
    n = index * 7919  # connections of a read scenario start at different keys
    clock = time.perf_counter
    record = result.latencies.append
    ok = 0
    try:
        while clock() < deadline and budget.take():
            payload = factory(n)
            n += 1
            sent = clock()
            try:
                writer.write(payload)
                status, body, keep_alive = await read_response(reader)
            except (OSError, EOFError, asyncio.IncompleteReadError, HttpError) as exc:
                result.error(f"{type(exc).__name__}: {exc}")
                writer.close()
                reader, writer = await _connect(spec.host, port)
                continue
            if status != plan.expect or (
                plan.expect_body is not None and plan.expect_body not in body
            ):
                result.error(f"HTTP {status}: {body[:200]!r}")
            else:
                ok += 1
                record(clock() - sent)
            if not keep_alive:
                writer.close()
                reader, writer = await _connect(spec.host, port)
    finally:
        writer.close()
        result.ok += ok
        result.ok_per_port[port] = result.ok_per_port.get(port, 0) + ok


async def _run(spec: WorkerSpec) -> WorkerResult:
    result = WorkerResult()
    budget = _Budget(spec.max_requests)
    tasks: list[Coroutine[Any, Any, None]] = []
    for i in range(spec.first_connection, spec.first_connection + spec.connections):
        host = f"{spec.host}:{port_of(spec.ports, i)}"
        factory = build_factory(spec.plan, host, f"{spec.stream}c{i}")
        tasks.append(_connection(spec, i, factory, budget, result))
    cpu0 = time.process_time()
    result.started = max(time.time(), spec.start_at)
    hard_stop = spec.start_at - time.time() + spec.duration_s + spec.timeout_s
    running = [asyncio.ensure_future(t) for t in tasks]
    done, pending = await asyncio.wait(running, timeout=max(hard_stop, 0.1))
    for task in pending:  # a request still unanswered at the hard stop is an error
        task.cancel()
        result.error(f"timeout: no answer within {spec.timeout_s}s after the deadline")
    for task in done:
        exc = task.exception()
        if exc is not None:
            result.error(f"connection failed: {type(exc).__name__}: {exc}")
    if pending:
        await asyncio.wait(pending)
    result.finished = time.time()
    result.cpu_s = time.process_time() - cpu0
    return result


def run_worker(spec: WorkerSpec) -> WorkerResult:
    """Entry point in the generator process."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(_run(spec))
    return uvloop.run(_run(spec))


def warm_up(seconds: float) -> int:
    """A no-op task that keeps a freshly spawned pool worker busy, so all get spawned."""
    time.sleep(seconds)
    return os.getpid()
