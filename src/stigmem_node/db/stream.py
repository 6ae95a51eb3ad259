"""``WriteStream``: one write whose input arrives in parts while the writer thread is already
working on it (``Database.stream``; non-atomic batches are written so while they are checked).
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterator
from typing import Any

_END = object()  # a stream's last part
_ABORT = object()  # a stream abandoned by its owner


class WriteStream:
    """A write whose input arrives in parts while the writer is already working on it
    (``Database.stream``): ``fn(cursor, parts, *args)`` iterates over ``parts``, which
    blocks on the writer thread until the event loop has ``put`` the next part, and ends
    at ``end``. One transaction, as any write.

    The owner must ``end`` (or ``abort``) the stream whatever happens, in a ``finally``:
    until then the writer waits, holding the write lock (at most ``timeout_s`` between two
    parts; then the write fails and rolls back). Parts are kept, so the write can run again
    if its group is replayed."""

    def __init__(self, timeout_s: float) -> None:
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._received: list[Any] = []  # every part so far, for a replay (writer thread)
        self._complete = False  # the writer has seen the end (writer thread)
        self._closed = False  # the owner has ended or aborted it (event loop)
        self._timeout_s = timeout_s
        self._result: asyncio.Future[Any] | None = None

    @property
    def result(self) -> asyncio.Future[Any]:
        """The write's outcome (the future ``Database.stream`` queued)."""
        if self._result is None:
            raise RuntimeError("stream not queued")
        return self._result

    def put(self, part: Any) -> None:
        if self._closed:
            raise RuntimeError("stream already ended")
        self._inbox.put(part)

    def end(self) -> None:
        if not self._closed:
            self._closed = True
            self._inbox.put(_END)

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._inbox.put(_ABORT)

    def parts(self) -> Iterator[Any]:
        """The parts so far, then each new one as it arrives (writer thread)."""
        yield from self._received
        while not self._complete:
            try:
                part = self._inbox.get(timeout=self._timeout_s)
            except queue.Empty:
                raise TimeoutError("write stream: no part in time") from None
            if part is _ABORT:
                raise RuntimeError("write stream aborted by its owner")
            if part is _END:
                self._complete = True
                return
            self._received.append(part)
            yield part
