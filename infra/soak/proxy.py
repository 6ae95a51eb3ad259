"""A TCP proxy in front of a node, through which its peers reach it: the soak's fault switch.

Modes: ``up`` forwards bytes both ways; ``down`` refuses new connections and cuts open ones
(peers can no longer pull from or push to the node; its clients still reach it directly);
``slow`` forwards every chunk after ``delay_s`` (a slow peer). ``block(pid)`` also refuses
and cuts connections opened by one process (a partitioned node reaching out to this one), so
a partition cuts both directions. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Literal

Mode = Literal["up", "down", "slow"]
CHUNK = 65536


# (peer's source port, this proxy's port) -> the pid that owns the connection, if known
OwnerLookup = Callable[[int, int], int | None]


class FaultProxy:
    def __init__(
        self,
        listen_port: int,
        target_port: int,
        owner_of: OwnerLookup | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.host = host
        self.mode: Mode = "up"
        self.delay_s = 0.3
        self.connections = 0
        self.refused = 0
        self.blocked: set[int] = set()
        self._owner_of = owner_of
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.StreamWriter, int | None] = {}  # writer -> owning pid

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.listen_port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._cut_all()
            await self._server.wait_closed()

    def set_mode(self, mode: Mode, delay_s: float | None = None) -> None:
        self.mode = mode
        if delay_s is not None:
            self.delay_s = delay_s
        if mode == "down":
            self._cut_all()

    def block(self, pid: int) -> None:
        """Refuse ``pid``'s connections from now on and cut those it has open."""
        self.blocked.add(pid)
        for writer, owner in list(self._open.items()):
            if owner == pid:
                writer.close()

    def unblock(self, pid: int) -> None:
        self.blocked.discard(pid)

    def _cut_all(self) -> None:
        for writer in list(self._open):
            writer.close()
        self._open.clear()

    def _owner(self, client_w: asyncio.StreamWriter) -> int | None:
        peer = client_w.get_extra_info("peername")
        if self._owner_of is None or not peer:
            return None
        return self._owner_of(int(peer[1]), self.listen_port)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        owner = self._owner(client_w)
        if self.mode == "down" or (owner is not None and owner in self.blocked):
            self.refused += 1
            client_w.close()
            return
        try:
            node_r, node_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.close()
            return
        self.connections += 1
        self._open.update({client_w: owner, node_w: owner})
        try:
            await asyncio.gather(self._pipe(client_r, node_w), self._pipe(node_r, client_w))
        finally:
            for writer in (client_w, node_w):
                self._open.pop(writer, None)
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while True:
                data = await reader.read(CHUNK)
                if not data or self.mode == "down":
                    break
                if self.mode == "slow":
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()
