"""The daemon's host-link byte transports (CPython): a TCP server and a
serial port (pyserial device, USB gadget, or a pseudo-terminal made here).

They only move bytes between file descriptors and the gateway's one
``LinkSession``; ``LinkHub`` decides whose bytes it takes: **one host at a
time**.  While a host is authenticated, a second TCP connection is refused
with an ERROR frame ("gateway busy") and closed, and bytes arriving on
another port are dropped (logged).  A host that is not authenticated yet
(or whose link timed out) is replaced by the next one that connects, so one
connection at most is in a login.  When the owner's connection ends, the
session is told at once (a BYE on its behalf), so the gateway stops its
listeners instead of waiting for ``link_timeout_ms``.

Hostile or broken clients (TCP):

- A refused connection is read and ignored for ``LINGER_S`` (so the ERROR
  frame reaches it before the close), but at most ``MAX_CLOSING`` of them
  linger at once: beyond that the oldest is closed at once.  A flood of
  connections therefore costs a bounded number of descriptors; the daemon
  takes at most ``ACCEPT_BURST`` of them per wake-up, and when ``accept``
  runs out of descriptors it sheds a lingering one and pauses accepting for
  ``ACCEPT_PAUSE_S`` instead of spinning.
- A failed login closes its connection after the refusal, and the peer's
  next login is not judged before its back-off (``backoff.LoginBackoff``:
  0.2 s after the first failure, doubling up to 30 s); a connection from it
  during the back-off is refused at once ("too many failed logins").
  Failures are logged with their counts, never with anything of a key.
- An I/O error on one connection (reset, broken pipe, a bad descriptor)
  closes that connection only.  Refusals are logged once per peer and then
  summarised every ``REPORT_S``, so a flood cannot flood the journal.

``stats`` holds the port's counters (``TcpLinkPort.STAT_NAMES``).

Not thread-safe: only the runner's I/O thread calls these (non-blocking fds,
waited on by the runner with ``selectors``).  Time for lingering, back-off
and reports comes from the injected ``clock`` (seconds, monotonic).
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import time
import tty
from typing import Callable, Optional, Union

from diagbridge.codes import LINK_UNEXPECTED
from diagbridge.link import proto as P
from diagbridge.link.cobs import encode_frame, frame_size
from diagbridge.link.msgpack import packb
from diagbridge.link.session import S_READY, S_WAIT_HELLO
from diagbridge.cpy.clock import now_us
from diagbridge.cpy.gateway.backoff import LoginBackoff

log = logging.getLogger(__name__)

__all__ = ["LinkHub", "TcpLinkPort", "SerialLinkPort", "LinkSetupError", "parse_tcp",
           "is_loopback_host", "tcp_is_loopback", "MAX_CLOSING", "LINGER_S", "ACCEPT_BURST"]

LINGER_S = 2.0              # a refused connection is read (and ignored) this long ...
MAX_CLOSING = 32            # ... but at most this many at once: then the oldest is closed
ACCEPT_BURST = 16           # connections accepted per wake-up before other work runs
ACCEPT_PAUSE_S = 0.5        # accept() failed (no descriptor left): do not retry before
REPORT_S = 10.0             # refusals of one kind from one peer: one log line per period
_MAX_REPORT_KEYS = 64       # ... for this many peers; the rest are summarised together
_LISTEN_BACKLOG = 64        # connections the kernel holds until accepted (more: SYNs dropped)
_MAX_PENDING = 4 << 20      # bytes waiting for a host that stopped reading: then cut
_NO_DESCRIPTOR = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_GONE_BEFORE_ACCEPT = (errno.ECONNABORTED, errno.EPROTO, errno.ECONNRESET)

Clock = Callable[[], float]
Fd = Union[socket.socket, int]


class LinkSetupError(OSError):
    """A link transport could not be opened; the message says what to do."""


def _frame(obj) -> bytes:
    msg = packb(obj)
    out = bytearray(frame_size(len(msg)))
    return bytes(out[:encode_frame(msg, len(msg), out)])


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def parse_tcp(url: str) -> "tuple[str, int]":
    """``tcp://host:port`` (or ``host:port``, ``:port``) -> (host, port)."""
    rest = url[6:] if url.startswith("tcp://") else url
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not port.isdigit():
        raise LinkSetupError("listen address %r: write tcp://HOST:PORT (tcp://127.0.0.1:6520)"
                             % url)
    return host.strip("[]") or "0.0.0.0", int(port)


def _ip_is_loopback(text: str) -> bool:
    try:
        a = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return a.is_loopback


def is_loopback_host(host: str) -> bool:
    """True when ``host`` (an address or a name) is only this machine's
    loopback: 127.0.0.0/8, ::1, or a name all of whose addresses are."""
    if _ip_is_loopback(host):
        return True
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return False                        # an address, not a loopback one
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(_ip_is_loopback(i[4][0]) for i in infos)


def tcp_is_loopback(url: str) -> bool:
    """True when the listen address ``tcp://HOST:PORT`` is loopback only."""
    return is_loopback_host(parse_tcp(url)[0])


class LinkHub:
    """The gateway's session shared by every link port; routes its output to
    the port that owns the host."""

    def __init__(self, gw) -> None:
        self.gw = gw
        self.owner = None
        self.ports: list = []
        self._out = bytearray(16384)
        self.bytes_in = 0
        self.bytes_out = 0
        self.discarded = 0          # output popped while no host was connected
        self._warned = None

    def busy(self) -> bool:
        """A host is authenticated: others must wait."""
        return self.gw.link.state == S_READY

    def deliver(self, port, now: int, data: bytes) -> bool:
        """Bytes from `port`; False when they were refused (another host).
        Tells the port when a login it carried failed (``login_failed``) or
        succeeded (``logged_in``)."""
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
        link = self.gw.link
        failures = link.auth_failures
        was_up = link.state == S_READY
        self.bytes_in += len(data)
        self.gw.feed_link(now, data, len(data))
        failed = link.auth_failures - failures
        if failed > 0:
            port.login_failed(now, failed)
        elif not was_up and link.state == S_READY:
            port.logged_in(link.role)
        return True

    def hung_up(self, port, now: int) -> None:
        """The owner's connection ended: the session forgets the host now."""
        if self.owner is not port:
            return
        self.owner = None
        if self.gw.link.state != S_WAIT_HELLO:
            self.gw.link.hang_up(now)       # as a BYE (a frame would need the session MAC)
            self.gw.on_timer(now)           # the gateway tears the host's things down

    def write(self, buf, n: int) -> None:
        """Bytes for the host (the link port of ``GatewayLoop``): to the
        owner, or counted and dropped while no host is connected."""
        if self.owner is not None:
            self.bytes_out += n
            self.owner.send(buf, n)
        else:
            self.discarded += n

    def flush(self) -> None:
        """Everything the gateway has for the host, now (a port about to
        close its client sends the last ERROR first)."""
        out = self._out
        n = self.gw.pop_link(out)
        while n:
            self.write(out, n)
            n = self.gw.pop_link(out)


class _Writer:
    """Non-blocking output with a pending buffer (waited on for writability)."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def _write_fd(self, data) -> int:
        raise NotImplementedError

    def send(self, buf, n: int) -> None:
        if self.pending:
            self.pending += buf[:n]
        else:
            try:
                k = self._write_fd(memoryview(buf)[:n])
            except (BlockingIOError, InterruptedError):
                k = 0
            except Exception as e:          # noqa: BLE001 (OSError, or anything odd: drop)
                self._failed(e)
                return
            if k < n:
                self.pending += buf[k:n]
        if len(self.pending) > _MAX_PENDING:
            self._failed(OSError("the host stopped reading (%d bytes waiting)"
                                 % len(self.pending)))

    def on_writable(self) -> None:
        if not self.pending:
            return
        try:
            k = self._write_fd(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except Exception as e:              # noqa: BLE001
            self._failed(e)
            return
        del self.pending[:k]

    def _failed(self, err: BaseException) -> None:
        raise NotImplementedError


class _Reports:
    """Warnings about refused connections: the first of a kind from a peer
    at once, the next ones counted and summarised once per ``REPORT_S``."""

    def __init__(self, clock: Clock, prefix: str) -> None:
        self._clock = clock
        self._prefix = prefix
        self._open: dict = {}           # (kind, peer) -> [until, suppressed, what]

    def warn(self, kind: str, peer: str, what: str, detail: str) -> None:
        key = (kind, peer)
        e = self._open.get(key)
        if e is None and len(self._open) >= _MAX_REPORT_KEYS:
            key = (kind, "*")
            e = self._open.get(key)
            what = "of these from other addresses (%s)" % kind
        if e is not None:
            e[1] += 1
            return
        self._open[key] = [self._clock() + REPORT_S, 0, what]
        log.warning("%s: %s", self._prefix, detail)

    def next_s(self) -> Optional[float]:
        """Seconds until a summary is due (None: none to write)."""
        due = [e[0] for e in self._open.values() if e[1]]
        return max(0.0, min(due) - self._clock()) if due else None

    def flush(self) -> None:
        if not self._open:
            return
        t = self._clock()
        for key, e in list(self._open.items()):
            if e[0] <= t:
                del self._open[key]
                if e[1]:
                    log.warning("%s: %d more %s in the last %.0f s", self._prefix, e[1], e[2],
                                REPORT_S)


class TcpLinkPort(_Writer):
    """A TCP server for the host link; one host connection at a time.

    ``clock`` (seconds, monotonic) times lingering, back-off and reports;
    ``backoff`` is the failed-login table (a fresh ``LoginBackoff`` if None)."""

    STAT_NAMES = ("accepted", "refused_busy", "refused_backoff", "login_failures",
                  "closed_early", "accept_errors", "client_errors")

    def __init__(self, hub: LinkHub, url: str, *, clock: Clock = time.monotonic,
                 backoff: Optional[LoginBackoff] = None) -> None:
        super().__init__()
        self.hub = hub
        host, port = parse_tcp(url)
        srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind((host, port))
            srv.listen(_LISTEN_BACKLOG)
        except OSError as e:
            srv.close()
            hint = {errno.EADDRINUSE: "is another diagbridge-gw running? pick another port "
                                      "with --listen",
                    errno.EACCES: "ports below 1024 need root; use 6520",
                    errno.EADDRNOTAVAIL: "no such local address; use 127.0.0.1 or 0.0.0.0"
                    }.get(e.errno, "")
            raise LinkSetupError("cannot listen on tcp://%s:%d: %s%s"
                                 % (host, port, e.strerror or e, " (%s)" % hint if hint else ""))
        srv.setblocking(False)
        self._srv = srv
        h, p = srv.getsockname()[:2]
        self.url = "tcp://%s:%d" % ("[%s]" % h if ":" in h else h, p)
        self.name = self.url
        self.is_loopback = _ip_is_loopback(h)
        self.conn: Optional[socket.socket] = None
        self.peer = ""
        self.peer_ip = ""
        self._clock = clock
        self.backoff = backoff if backoff is not None else LoginBackoff()
        # refused connections, read until closed: sock -> cut-off time (oldest first)
        self._closing: dict = {}
        self._accept_at = 0.0               # accept() paused until then (no descriptor)
        self._reports = _Reports(clock, self.url)
        self.stats = dict.fromkeys(self.STAT_NAMES, 0)
        hub.ports.append(self)

    # ---- what the runner waits for ------------------------------------------------
    def read_fds(self) -> list:
        fds: list = []
        if self._srv.fileno() >= 0 and self._clock() >= self._accept_at:
            fds.append(self._srv)
        if self.conn is not None:
            fds.append(self.conn)
        fds.extend(self._closing)
        return fds

    def write_fds(self) -> list:
        return [self.conn] if self.conn is not None and self.pending else []

    @property
    def lingering(self) -> int:
        """Refused connections still open."""
        return len(self._closing)

    def timeout_s(self) -> Optional[float]:
        """Seconds until the next linger cut-off, accept pause end or report
        (None: none)."""
        t = self._clock()
        cands = []
        if self._closing:
            cands.append(next(iter(self._closing.values())) - t)
        if self._accept_at > t:
            cands.append(self._accept_at - t)
        r = self._reports.next_s()
        if r is not None:
            cands.append(r)
        return max(0.0, min(cands)) if cands else None

    # ---- events ---------------------------------------------------------------------
    def on_readable(self, fd: Fd, now: int) -> None:
        if fd is self._srv:
            self._accept(now)
        elif fd is self.conn:
            self._recv(now)
        elif fd in self._closing:
            self._linger(fd)

    def on_timer(self, now: int) -> None:
        if self._closing:
            t = self._clock()
            while self._closing:
                s, until = next(iter(self._closing.items()))
                if until > t:
                    break
                del self._closing[s]
                _close(s)
        self._reports.flush()

    def drop_client(self, fd: Optional[Fd], now: int) -> None:
        """The runner saw something unexpected on ``fd``: close that client
        (the listening socket: pause accepting)."""
        self.stats["client_errors"] += 1
        if fd is self._srv:
            self._accept_at = self._clock() + ACCEPT_PAUSE_S
        elif fd in self._closing:
            del self._closing[fd]
            _close(fd)
        elif self.conn is not None and (fd is None or fd is self.conn):
            self.drop_host("dropped after an error")
            self.hub.hung_up(self, now)

    # ---- accepting ----------------------------------------------------------------------
    def _accept(self, now: int) -> None:
        for _ in range(ACCEPT_BURST):
            try:
                sock, addr = self._srv.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in _GONE_BEFORE_ACCEPT:
                    continue
                self.stats["accept_errors"] += 1
                why = e.strerror or str(e)
                if e.errno in _NO_DESCRIPTOR and self._closing:
                    self._shed_oldest()         # its descriptor takes the next connection
                    self._reports.warn("accept", "", "failed accepts (no descriptor left)",
                                       "accept failed: %s; closing refused connections early "
                                       "to make room" % why)
                    continue
                self._accept_at = self._clock() + ACCEPT_PAUSE_S
                self._reports.warn("accept-pause", "", "failed accepts (accepting paused)",
                                   "accept failed: %s; accepting again in %.1f s"
                                   % (why, ACCEPT_PAUSE_S))
                return
            self._take(sock, addr, now)

    def _take(self, sock: socket.socket, addr, now: int) -> None:
        self.stats["accepted"] += 1
        ip = str(addr[0])
        peer = "[%s]:%s" % (ip, addr[1]) if ":" in ip else "%s:%s" % (ip, addr[1])
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:                 # gone already (reset before we looked)
            _close(sock)
            return
        if self.conn is not None:
            self._settle(now)           # a BYE or an EOF already waiting frees the gateway
        t = self._clock()
        wait = self.backoff.refuse(ip, t)
        if wait > 0.0:
            self.stats["refused_backoff"] += 1
            self._reports.warn("backoff", ip, "refused connections from %s (login back-off)" % ip,
                               "refused host %s: %d failed logins from this address, its next "
                               "login is judged in %.1f s" % (peer,
                                                              self.backoff.failed_logins(ip, t),
                                                              wait))
            self._refuse(sock, t, "too many failed logins from %s: try again in %.1f s"
                         % (ip, wait))
            return
        if self.hub.busy():
            who = self.peer if self.hub.owner is self else self.hub.owner.name
            self.stats["refused_busy"] += 1
            self._reports.warn("busy", ip, "refused connections from %s (a host is connected)" % ip,
                               "refused host %s: %s is connected (one host at a time)"
                               % (peer, who))
            self._refuse(sock, t, "gateway busy: another host (%s) is connected; one host at "
                         "a time" % who)
            return
        if self.conn is not None:
            self.drop_host("replaced by %s" % peer)
            self.hub.hung_up(self, now)
        self.conn = sock
        self.peer = peer
        self.peer_ip = ip
        log.info("%s: host %s connected", self.url, peer)

    def _refuse(self, sock: socket.socket, t: float, text: str) -> None:
        """The standard refusal: an ERROR frame, no more output, then linger."""
        try:
            sock.send(_frame([P.MSG_ERROR, 0, {P.K_CODE: LINK_UNEXPECTED, P.K_TEXT: text}]))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._linger_add(sock, t)

    def _linger_add(self, sock: socket.socket, t: float) -> None:
        while len(self._closing) >= MAX_CLOSING:
            self._shed_oldest()
        self._closing[sock] = t + LINGER_S

    def _shed_oldest(self) -> None:
        if self._closing:
            s = next(iter(self._closing))
            del self._closing[s]
            _close(s)
            self.stats["closed_early"] += 1

    # ---- the host's connection -------------------------------------------------------
    def _settle(self, now: int) -> None:
        """Read what the current host already sent (its BYE, its EOF)."""
        for _ in range(16):
            if self.conn is None or not self._recv(now):
                return
            self.hub.flush()

    def _recv(self, now: int) -> bool:
        """One read from the host; False when there was nothing (or it ended)."""
        conn = self.conn
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as e:
            data = b""
            log.info("%s: host %s: %s", self.url, self.peer, e.strerror or e)
        if not data:
            log.info("%s: host %s disconnected", self.url, self.peer)
            self.drop_host(None)
            self.hub.hung_up(self, now)
            return False
        self.hub.deliver(self, now, data)
        return True

    def login_failed(self, now: int, n: int) -> None:
        """The login on this connection failed (the session said so): count
        it against the peer, let the refusal out, close the connection."""
        t = self._clock()
        ip = self.peer_ip
        count = wait = 0
        for _ in range(n):
            count, wait = self.backoff.failed(ip, t)
        self.stats["login_failures"] += n
        log.warning("%s: login from %s failed (%d failed in a row from this address, %d since "
                    "start): its next login is judged in %.1f s at the earliest", self.url,
                    self.peer, count, self.stats["login_failures"], wait)
        self.hub.flush()                # the ERROR goes out before the close
        sock = self.conn
        if sock is not None:
            self.conn = None
            self.pending = bytearray()
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._linger_add(sock, t)
        self.hub.hung_up(self, now)

    def logged_in(self, role: int) -> None:
        log.info("%s: host %s logged in (role %s)", self.url, self.peer,
                 _ROLE_NAMES.get(role, role))

    def _linger(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._closing.pop(sock, None)
            _close(sock)

    def _write_fd(self, data) -> int:
        if self.conn is None:
            return len(data)
        return self.conn.send(data)

    def _failed(self, err: BaseException) -> None:
        if isinstance(err, OSError):
            log.warning("%s: host %s: %s", self.url, self.peer, err.strerror or err)
        else:
            log.error("%s: host %s: unexpected %s on send; connection closed", self.url,
                      self.peer, type(err).__name__, exc_info=err)
        self.drop_host(None)
        self.hub.hung_up(self, now_us())

    def drop_host(self, why: Optional[str]) -> None:
        """Close the current host connection (no session bookkeeping)."""
        if self.conn is None:
            return
        if why:
            log.info("%s: host %s %s", self.url, self.peer, why)
        _close(self.conn)
        self.conn = None
        self.pending = bytearray()

    def close(self) -> None:
        self.drop_host(None)
        for s in self._closing:
            _close(s)
        self._closing = {}
        _close(self._srv)


_ROLE_NAMES = {P.ROLE_MONITOR: "monitor", P.ROLE_DIAGNOSTIC: "diagnostic", P.ROLE_FULL: "full"}


class SerialLinkPort(_Writer):
    """The host link on a serial device (pyserial: a UART, the USB gadget
    /dev/ttyGS0) or, with ``path="pty"``, on a pseudo-terminal made here
    (``url`` then names the end a host opens: serial:///dev/pts/N).  A serial
    line has no peer address: failed logins on it are counted and logged,
    with no back-off."""

    def __init__(self, hub: LinkHub, path: str, baudrate: int = 115200) -> None:
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
        self.login_failures = 0
        hub.ports.append(self)

    def read_fds(self) -> list:
        return [self._fd] if self._fd >= 0 else []

    def write_fds(self) -> list:
        return [self._fd] if self._fd >= 0 and self.pending else []

    def timeout_s(self) -> Optional[float]:
        return None

    def on_timer(self, now: int) -> None:
        pass

    def on_readable(self, fd: Fd, now: int) -> None:
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

    def login_failed(self, now: int, n: int) -> None:
        self.login_failures += n
        log.warning("%s: login failed (%d since start)", self.url, self.login_failures)

    def logged_in(self, role: int) -> None:
        log.info("%s: host logged in (role %s)", self.url, _ROLE_NAMES.get(role, role))

    def drop_client(self, fd: Optional[Fd], now: int) -> None:
        """Something unexpected on the line: forget its host (the line stays open)."""
        self.pending = bytearray()
        self.hub.hung_up(self, now)

    def _write_fd(self, data) -> int:
        if self.hub.owner is not self or self._fd < 0:
            return len(data)
        return os.write(self._fd, data)

    def _failed(self, err: BaseException) -> None:
        log.warning("%s: write failed: %s", self.url, err)
        self.pending = bytearray()

    def drop_host(self, why: Optional[str]) -> None:
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
