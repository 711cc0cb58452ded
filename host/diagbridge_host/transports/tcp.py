"""``tcp://host:port``: a gateway daemon's host-link socket."""
from __future__ import annotations

import select
import socket

from diagbridge_host.errors import LinkError, UsageError
from diagbridge_host.transports.base import Transport


class TcpTransport(Transport):
    """A connected TCP socket (Nagle off: requests are small and urgent)."""

    def __init__(self, sock: socket.socket, url: str) -> None:
        self.url = url
        self._sock = sock
        self._closed = False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)

    @classmethod
    def open(cls, rest: str, timeout_s: float) -> "TcpTransport":
        """Connect to ``host:port`` (``[v6addr]:port`` for IPv6)."""
        host, sep, port = rest.rstrip("/").rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise UsageError("tcp URL needs host:port, got tcp://%s" % rest)
        if not 1 <= int(port) <= 65535:
            raise UsageError("tcp://%s: the port must be 1-65535" % rest)
        host = host.strip("[]")
        url = "tcp://%s" % rest
        try:
            sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        except OSError as e:
            raise LinkError("cannot connect to the gateway at %s: %s (is the gateway daemon "
                            "running and reachable?)" % (url, e)) from e
        return cls(sock, url)

    def read(self, timeout_s: float) -> bytes:
        if self._closed:
            raise LinkError("%s: closed" % self.url)
        try:
            r, _, _ = select.select([self._sock], [], [], max(0.0, timeout_s))
            if not r:
                return b""
            data = self._sock.recv(65536)
        except (OSError, ValueError) as e:
            raise LinkError("%s: connection failed: %s" % (self.url, e)) from e
        if not data:
            raise LinkError("%s: the gateway closed the connection" % self.url)
        return data

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except (OSError, ValueError) as e:
            raise LinkError("%s: send failed: %s" % (self.url, e)) from e

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
