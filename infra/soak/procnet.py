"""Which local process owns a TCP connection (Linux ``/proc``): lets a proxy refuse one node.

A partitioned node must lose both directions: its peers' access to it (its own proxy) and its
access to them. Its outbound connections reach the other nodes' proxies from 127.0.0.1 like
everyone else's, so the proxies tell them apart by the process that owns the socket. Where
``/proc`` is not available the owner is unknown (``None``) and only inbound access is cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROC_TCP = Path("/proc/net/tcp")


def _inode(local_port: int, remote_port: int) -> str | None:
    """The socket inode of the IPv4 connection 127.0.0.1:local_port -> *:remote_port."""
    try:
        lines = PROC_TCP.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.rsplit(":", 1)[1], 16) == local_port and (
            int(remote.rsplit(":", 1)[1], 16) == remote_port
        ):
            return inode
    return None


def socket_owner(local_port: int, remote_port: int, pids: Iterable[int]) -> int | None:
    """The pid among ``pids`` holding the connection from ``local_port`` to ``remote_port``."""
    inode = _inode(local_port, remote_port)
    if inode is None:
        return None
    wanted = f"socket:[{inode}]"
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == wanted:
                    return pid
            except OSError:
                continue
    return None
