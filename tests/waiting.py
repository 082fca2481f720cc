"""Polling helpers: wait for an eventually-true condition, with a deadline, never a sleep."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 15.0) -> T:
    """Call `read` until `done(value)` holds; return the last value either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _tcp_queues(local_port: int, remote_port: int) -> tuple[int, int] | None:
    """(send queue, receive queue) of the established IPv4 socket local_port ->
    remote_port on this machine, from Linux's /proc/net/tcp; None if there is none."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
            if state != "01":  # ESTABLISHED
                continue
            if int(local.split(":")[1], 16) == local_port and (
                int(remote.split(":")[1], 16) == remote_port
            ):
                sent, received = queues.split(":")
                return int(sent, 16), int(received, 16)
    return None


def read_by_peer(conn: socket.socket) -> bool:
    """Whether everything sent on `conn` (a loopback connection) has been read by the
    process at the other end: nothing waits in our send queue or in its receive queue.
    A condition to wait on where a test must know that a server has taken a request."""
    client_port = conn.getsockname()[1]
    server_port = conn.getpeername()[1]
    ours = _tcp_queues(client_port, server_port)
    theirs = _tcp_queues(server_port, client_port)
    return ours is not None and theirs is not None and ours[0] == 0 and theirs[1] == 0
