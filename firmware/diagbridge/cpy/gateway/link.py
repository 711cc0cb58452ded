"""The daemon's host-link byte transports (CPython): a TCP server and a
serial port (pyserial device, USB gadget, or a pseudo-terminal made here).

They only move bytes between file descriptors and the gateway's one
``LinkSession``; ``LinkHub`` decides whose bytes it takes: **one host at a
time**.  While a host is authenticated, a second TCP connection is refused
with an ERROR frame ("gateway busy") and closed, and bytes arriving on
another port are dropped (logged).  A host that is not authenticated yet
(or whose link timed out) is replaced by the next one that connects.  When
the owner's connection ends, the session is told at once (a BYE on its
behalf), so the gateway stops its listeners instead of waiting for
``link_timeout_ms``.

Not thread-safe: only the runner's I/O thread calls these (non-blocking fds,
``select`` by the runner).
"""
import errno
import logging
import os
import select
import socket
import time
import tty

from diagbridge.codes import LINK_UNEXPECTED
from diagbridge.link import proto as P
from diagbridge.link.cobs import encode_frame, frame_size
from diagbridge.link.msgpack import packb
from diagbridge.link.session import S_READY, S_WAIT_HELLO
from diagbridge.cpy.clock import now_us

log = logging.getLogger(__name__)

__all__ = ["LinkHub", "TcpLinkPort", "SerialLinkPort", "LinkSetupError", "parse_tcp"]

_LINGER_S = 2.0             # a refused connection is read (and ignored) this long
_MAX_PENDING = 4 << 20      # bytes waiting for a host that stopped reading: then cut


class LinkSetupError(OSError):
    """A link transport could not be opened; the message says what to do."""


def _frame(obj) -> bytes:
    msg = packb(obj)
    out = bytearray(frame_size(len(msg)))
    return bytes(out[:encode_frame(msg, len(msg), out)])


def parse_tcp(url: str) -> "tuple[str, int]":
    """``tcp://host:port`` (or ``host:port``, ``:port``) -> (host, port)."""
    rest = url[6:] if url.startswith("tcp://") else url
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not port.isdigit():
        raise LinkSetupError("listen address %r: write tcp://HOST:PORT (tcp://0.0.0.0:6520)"
                             % url)
    return host.strip("[]") or "0.0.0.0", int(port)


class LinkHub:
    """The gateway's session shared by every link port; routes its output to
    the port that owns the host."""

    def __init__(self, gw):
        self.gw = gw
        self.owner = None
        self.ports = []
        self._out = bytearray(16384)
        self.bytes_in = 0
        self.bytes_out = 0
        self.discarded = 0          # output popped while no host was connected
        self._warned = None

    def busy(self) -> bool:
        """A host is authenticated: others must wait."""
        return self.gw.link.state == S_READY

    def deliver(self, port, now, data) -> bool:
        """Bytes from `port`; False when they were refused (another host)."""
        if self.owner is not port:
            if self.owner is not None and self.busy():
                if self._warned is not port:
                    self._warned = port
                    log.warning("%s: bytes ignored, a host is connected on %s (one host at a "
                                "time)", port.name, self.owner.name)
                return False
            if self.owner is not None:
                self.owner.drop_host("replaced by a host on %s" % port.name)
            self.owner = port
            self._warned = None
        self.bytes_in += len(data)
        self.gw.feed_link(now, data, len(data))
        return True

    def hung_up(self, port, now) -> None:
        """The owner's connection ended: the session forgets the host now."""
        if self.owner is not port:
            return
        self.owner = None
        if self.gw.link.state != S_WAIT_HELLO:
            bye = _frame([P.MSG_BYE, 0, None])
            self.gw.feed_link(now, bye, len(bye))

    def flush(self) -> None:
        """Everything the gateway has for the host, to the owner (or nowhere)."""
        out = self._out
        n = self.gw.pop_link(out)
        while n:
            if self.owner is not None:
                self.bytes_out += n
                self.owner.send(out, n)
            else:
                self.discarded += n
            n = self.gw.pop_link(out)


class _Writer:
    """Non-blocking output with a pending buffer (select for writability)."""

    def __init__(self):
        self.pending = bytearray()

    def _write_fd(self, data) -> int:
        raise NotImplementedError

    def send(self, buf, n) -> None:
        if self.pending:
            self.pending += buf[:n]
        else:
            try:
                k = self._write_fd(memoryview(buf)[:n])
            except (BlockingIOError, InterruptedError):
                k = 0
            except OSError as e:
                self._failed(e)
                return
            if k < n:
                self.pending += buf[k:n]
        if len(self.pending) > _MAX_PENDING:
            self._failed(OSError("the host stopped reading (%d bytes waiting)"
                                 % len(self.pending)))

    def on_writable(self) -> None:
        try:
            k = self._write_fd(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._failed(e)
            return
        del self.pending[:k]

    def _failed(self, err) -> None:
        raise NotImplementedError


class TcpLinkPort(_Writer):
    """A TCP server for the host link; one host connection at a time."""

    def __init__(self, hub, url: str):
        super().__init__()
        self.hub = hub
        host, port = parse_tcp(url)
        srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind((host, port))
            srv.listen(4)
        except OSError as e:
            srv.close()
            hint = {errno.EADDRINUSE: "is another diagbridge-gw running? pick another port "
                                      "with --listen",
                    errno.EACCES: "ports below 1024 need root; use 6520",
                    errno.EADDRNOTAVAIL: "no such local address; use 0.0.0.0"}.get(e.errno, "")
            raise LinkSetupError("cannot listen on tcp://%s:%d: %s%s"
                                 % (host, port, e.strerror or e, " (%s)" % hint if hint else ""))
        srv.setblocking(False)
        self._srv = srv
        h, p = srv.getsockname()[:2]
        self.url = "tcp://%s:%d" % ("[%s]" % h if ":" in h else h, p)
        self.name = self.url
        self.conn = None
        self.peer = ""
        self._closing = []          # (sock, until): refused connections, read until closed
        hub.ports.append(self)

    def read_fds(self):
        fds = [self._srv]
        if self.conn is not None:
            fds.append(self.conn)
        for s, _ in self._closing:
            fds.append(s)
        return fds

    def write_fds(self):
        return [self.conn] if self.conn is not None and self.pending else []

    def timeout_s(self):
        """Seconds until the next linger cut-off (None: none)."""
        if not self._closing:
            return None
        return max(0.0, min(u for _, u in self._closing) - time.monotonic())

    def on_readable(self, fd, now) -> None:
        if fd is self._srv:
            self._accept(now)
        elif fd is self.conn:
            self._read(now)
        else:
            self._linger(fd)

    def on_timer(self, now) -> None:
        t = time.monotonic()
        for s, until in list(self._closing):
            if t >= until:
                self._closing.remove((s, until))
                s.close()

    def _accept(self, now) -> None:
        try:
            sock, addr = self._srv.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            log.warning("%s: accept failed: %s", self.url, e)
            return
        peer = "%s:%s" % addr[:2]
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.conn is not None:
            self._settle(now)           # a BYE or an EOF already waiting frees the gateway
        if self.hub.busy():
            who = self.peer if self.hub.owner is self else self.hub.owner.name
            log.warning("%s: refused host %s: %s is connected (one host at a time)",
                        self.url, peer, who)
            text = "gateway busy: another host (%s) is connected; one host at a time" % who
            try:
                sock.send(_frame([P.MSG_ERROR, 0, {P.K_CODE: LINK_UNEXPECTED, P.K_TEXT: text}]))
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._closing.append((sock, time.monotonic() + _LINGER_S))
            return
        if self.conn is not None:
            self.drop_host("replaced by %s" % peer)
            self.hub.hung_up(self, now)
        self.conn = sock
        self.peer = peer
        log.info("%s: host %s connected", self.url, peer)

    def _settle(self, now) -> None:
        """Read what the current host already sent (its BYE, its EOF)."""
        for _ in range(16):
            if self.conn is None:
                return
            r, _, _ = select.select([self.conn], [], [], 0)
            if not r:
                return
            self._read(now)
            self.hub.flush()

    def _read(self, now) -> None:
        try:
            data = self.conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            data = b""
            log.info("%s: host %s: %s", self.url, self.peer, e)
        if not data:
            log.info("%s: host %s disconnected", self.url, self.peer)
            self.drop_host(None)
            self.hub.hung_up(self, now)
            return
        self.hub.deliver(self, now, data)

    def _linger(self, sock) -> None:
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._closing = [(s, u) for s, u in self._closing if s is not sock]
            sock.close()

    def _write_fd(self, data) -> int:
        if self.conn is None:
            return len(data)
        return self.conn.send(data)

    def _failed(self, err) -> None:
        log.warning("%s: host %s: %s", self.url, self.peer, err)
        self.drop_host(None)
        self.hub.hung_up(self, now_us())

    def drop_host(self, why) -> None:
        """Close the current host connection (no session bookkeeping)."""
        if self.conn is None:
            return
        if why:
            log.info("%s: host %s %s", self.url, self.peer, why)
        try:
            self.conn.close()
        except OSError:
            pass
        self.conn = None
        self.pending = bytearray()

    def close(self) -> None:
        self.drop_host(None)
        for s, _ in self._closing:
            s.close()
        self._closing = []
        self._srv.close()


class SerialLinkPort(_Writer):
    """The host link on a serial device (pyserial: a UART, the USB gadget
    /dev/ttyGS0) or, with ``path="pty"``, on a pseudo-terminal made here
    (``url`` then names the end a host opens: serial:///dev/pts/N)."""

    def __init__(self, hub, path: str, baudrate: int = 115200):
        super().__init__()
        self.hub = hub
        self._port = None
        self._slave = -1
        if path == "pty":
            master, slave = os.openpty()
            tty.setraw(slave)
            tty.setraw(master)
            os.set_blocking(master, False)
            self._fd = master
            self._slave = slave             # kept open: no EIO when the host closes its end
            self.device = os.ttyname(slave)
        else:
            import serial
            try:
                self._port = serial.Serial(path, baudrate=baudrate, timeout=0)
            except (serial.SerialException, ValueError, OSError) as e:
                raise LinkSetupError("cannot open serial port %s: %s (does it exist? for the "
                                     "USB gadget: dtoverlay=dwc2 and modules-load=dwc2,g_serial; "
                                     "may this user open it? group dialout)" % (path, e))
            self._fd = self._port.fileno()
            os.set_blocking(self._fd, False)
            self.device = path
        self.url = "serial://" + self.device
        self.name = self.url
        hub.ports.append(self)

    def read_fds(self):
        return [self._fd] if self._fd >= 0 else []

    def write_fds(self):
        return [self._fd] if self._fd >= 0 and self.pending else []

    def timeout_s(self):
        return None

    def on_timer(self, now) -> None:
        pass

    def on_readable(self, fd, now) -> None:
        try:
            data = os.read(self._fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            log.error("%s: read failed: %s; serial link closed", self.url, e)
            self._close_fd()
            self.hub.hung_up(self, now)
            return
        if data:
            self.hub.deliver(self, now, data)

    def _write_fd(self, data) -> int:
        if self.hub.owner is not self or self._fd < 0:
            return len(data)
        return os.write(self._fd, data)

    def _failed(self, err) -> None:
        log.warning("%s: write failed: %s", self.url, err)
        self.pending = bytearray()

    def drop_host(self, why) -> None:
        self.pending = bytearray()      # a serial line has no connection to close

    def _close_fd(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except OSError:
                pass
            self._port = None
        elif self._fd >= 0:
            os.close(self._fd)
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1
        self._fd = -1

    def close(self) -> None:
        self._close_fd()
