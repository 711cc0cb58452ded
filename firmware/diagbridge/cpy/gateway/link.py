"""The daemon's host-link byte transports (CPython): a TCP server and a
serial port (pyserial device, USB gadget, or a pseudo-terminal made here).

They only move bytes between file descriptors and the gateway's host slots
(``diagbridge.gateway.hosts``: one ``LinkSession`` each); ``LinkHub`` knows
which connection holds which slot.  **Several hosts at once**: each TCP
connection takes a free slot (up to ``GatewayConfig.max_hosts``); a serial
line holds one slot for as long as it is open.  A connection holds its slot
from its first byte; when every slot is taken, a new connection replaces
the oldest one still in its login (connections that never log in cannot
keep a host out, and at most ``max_hosts`` logins are judged at once), and
when every slot holds an authenticated host it is refused with an ERROR
frame ("gateway busy: another host ...") and closed.  When a connection
ends, its slot's session is told at once (a BYE on its behalf), so the
gateway tears down that host's things instead of waiting for
``link_timeout_ms``; the other hosts are not touched.  The gateway's output
for slot i leaves through ``hub.links[i]`` (the link ports of
``GatewayLoop``), to the connection on that slot.

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
from typing import Any, Callable, Optional, Union

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


def _frame(obj: Any) -> bytes:
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


class _SlotLink:
    """Host slot ``slot``'s link port for ``GatewayLoop`` (``write``): its
    bytes go to the port whose connection holds the slot."""

    def __init__(self, hub: "LinkHub", slot: int) -> None:
        self._hub = hub
        self.slot = slot

    def write(self, buf: Any, n: int) -> None:
        self._hub.write_slot(self.slot, buf, n)


class LinkHub:
    """The gateway's host slots shared by every link port: which port's
    connection holds which slot, and the bytes in and out of each.

    With a ``diagbridge.gateway.Gateway`` (it has ``hosts``) there is one
    slot per ``GatewayConfig.max_hosts``; any other object with the link
    verbs (``feed_link(now, data, n)``, ``pop_link(out)``, ``link``) is one
    slot, as a gateway with one host was."""

    def __init__(self, gw: Any) -> None:
        self.gw = gw
        self._multi = hasattr(gw, "hosts") and hasattr(gw, "attach")
        n = len(gw.hosts) if self._multi else 1
        self.owners: list = [None] * n          # slot -> the port holding it
        self.links = tuple(_SlotLink(self, i) for i in range(n))
        self.ports: list = []
        self._out = bytearray(16384)
        self.bytes_in = 0
        self.bytes_out = 0
        self.discarded = 0          # output popped for a slot no connection holds

    # ---- slots ------------------------------------------------------------------------
    @property
    def slots(self) -> int:
        return len(self.owners)

    @property
    def owner(self) -> Any:
        """The port holding slot 0 (the only one of a one-slot gateway)."""
        return self.owners[0]

    def session(self, slot: int) -> Any:
        """Slot ``slot``'s ``LinkSession``."""
        return self.gw.hosts[slot].link if self._multi else self.gw.link

    def up(self, slot: int) -> bool:
        """An authenticated host is on ``slot``."""
        return self.session(slot).state == S_READY

    def busy(self) -> bool:
        """No slot is free for a new host: each holds an authenticated one."""
        return all(o is not None and self.up(s) for s, o in enumerate(self.owners))

    def hosts_text(self) -> str:
        """The connected hosts, for a refusal and the log."""
        return ", ".join(self.name(s) for s, o in enumerate(self.owners)
                         if o is not None and self.up(s)) or "none"

    def name(self, slot: int) -> str:
        return self.gw.hosts[slot].name if self._multi else (
            self.owners[slot].name if self.owners[slot] is not None else "")

    def attach(self, port: Any, name: str) -> int:
        """A free slot for a new connection of ``port`` (named ``name``, the
        name other hosts see, e.g. in a bus lock refusal); -1: none free."""
        if self._multi:
            slot = self.gw.attach()
            if slot >= 0:
                self.gw.hosts[slot].name = name
        else:
            slot = 0 if self.owners[0] is None else -1
        if slot >= 0:
            self.owners[slot] = port
        return slot

    def hung_up(self, port: Any, now: int, slot: int = 0) -> None:
        """The connection on ``slot`` ended: the session forgets its host now
        (as at a BYE: a frame would need the session MAC) and the gateway
        tears down that host's things; the slot is free again."""
        if slot < 0 or slot >= len(self.owners) or self.owners[slot] is not port:
            return
        self.owners[slot] = None
        if self._multi:
            self.gw.detach(now, slot)
        elif self.gw.link.state != S_WAIT_HELLO:
            self.gw.link.hang_up(now)
            self.gw.on_timer(now)

    def hang_up(self, port: Any, now: int, slot: int) -> None:
        """The host on ``slot`` is gone but ``port`` keeps the slot (a serial
        line: the next host comes on the same line)."""
        if slot < 0 or slot >= len(self.owners) or self.owners[slot] is not port:
            return
        if self._multi:
            self.gw.hang_up(now, slot)
        elif self.gw.link.state != S_WAIT_HELLO:
            self.gw.link.hang_up(now)
            self.gw.on_timer(now)

    # ---- bytes --------------------------------------------------------------------------
    def deliver(self, port: Any, now: int, data: bytes, slot: int = 0) -> bool:
        """Bytes from ``port``'s connection on ``slot``; False when the port
        does not hold the slot.  Tells the port when a login it carried
        failed (``login_failed``) or succeeded (``logged_in``)."""
        if slot < 0 or slot >= len(self.owners) or self.owners[slot] is not port:
            return False
        link = self.session(slot)
        failures = link.auth_failures
        was_up = link.state == S_READY
        self.bytes_in += len(data)
        if self._multi:
            self.gw.feed_link(now, data, len(data), slot)
        else:
            self.gw.feed_link(now, data, len(data))
        failed = link.auth_failures - failures
        if failed > 0:
            port.login_failed(now, failed, slot)
        elif not was_up and link.state == S_READY:
            port.logged_in(link.role, slot)
        return True

    def write_slot(self, slot: int, buf: Any, n: int) -> None:
        """Bytes for the host on ``slot``: to its port, or counted and
        dropped while no connection holds the slot."""
        owner = self.owners[slot]
        if owner is not None:
            self.bytes_out += n
            owner.send_to(slot, buf, n)
        else:
            self.discarded += n

    def write(self, buf: Any, n: int) -> None:
        """Slot 0's bytes (the link port of a one-slot ``GatewayLoop``)."""
        self.write_slot(0, buf, n)

    def _pop(self, out: Any, slot: int) -> int:
        return self.gw.pop_link(out, slot) if self._multi else self.gw.pop_link(out)

    def flush(self, slot: Optional[int] = None) -> None:
        """Everything the gateway has for the hosts (or for ``slot``), now
        (a port about to close a client sends the last ERROR first)."""
        out = self._out
        for s in range(len(self.owners)) if slot is None else (slot,):
            n = self._pop(out, s)
            while n:
                self.write_slot(s, out, n)
                n = self._pop(out, s)


class _Writer:
    """Non-blocking output with a pending buffer (waited on for writability)."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def _write_fd(self, data: bytes) -> int:
        raise NotImplementedError

    def send(self, buf: Any, n: int) -> None:
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

    def on_writable(self, fd: Any = None) -> None:
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


class _Client(_Writer):
    """One host's TCP connection, bound to a host slot."""

    def __init__(self, port: "TcpLinkPort", sock: socket.socket, peer: str, ip: str,
                 slot: int) -> None:
        super().__init__()
        self.port = port
        self.sock = sock
        self.peer = peer
        self.ip = ip
        self.slot = slot

    def _write_fd(self, data: bytes) -> int:
        return self.sock.send(data)

    def _failed(self, err: BaseException) -> None:
        self.port._client_failed(self, err)


class TcpLinkPort:
    """A TCP server for the host link: each connection takes a free host
    slot of the hub (up to ``GatewayConfig.max_hosts`` hosts at once, less
    a slot a serial line holds).

    Before its login a connection holds a slot too; when every slot is
    taken, a new connection replaces the oldest one still in its login (so
    connections that never log in cannot keep a host out), and when every
    slot holds an authenticated host it is refused ("gateway busy").
    ``clock`` (seconds, monotonic) times lingering, back-off and reports;
    ``backoff`` is the failed-login table (a fresh ``LoginBackoff`` if None)."""

    STAT_NAMES = ("accepted", "refused_busy", "refused_backoff", "login_failures",
                  "closed_early", "accept_errors", "client_errors")

    def __init__(self, hub: LinkHub, url: str, *, clock: Clock = time.monotonic,
                 backoff: Optional[LoginBackoff] = None) -> None:
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
        self.clients: dict = {}             # socket -> _Client, oldest first
        self._clock = clock
        self.backoff = backoff if backoff is not None else LoginBackoff()
        # refused connections, read until closed: sock -> cut-off time (oldest first)
        self._closing: dict = {}
        self._accept_at = 0.0               # accept() paused until then (no descriptor)
        self._reports = _Reports(clock, self.url)
        self.stats = dict.fromkeys(self.STAT_NAMES, 0)
        hub.ports.append(self)

    # ---- the connections ------------------------------------------------------------
    @property
    def conn(self) -> Optional[socket.socket]:
        """The oldest host connection (None: none)."""
        return next(iter(self.clients), None)

    @property
    def peer(self) -> str:
        c = next(iter(self.clients.values()), None)
        return c.peer if c is not None else ""

    @property
    def pending(self) -> bool:
        """Output waits for a connection to become writable."""
        return any(c.pending for c in self.clients.values())

    def _client_of(self, slot: int) -> Optional[_Client]:
        for c in self.clients.values():
            if c.slot == slot:
                return c
        return None

    def send_to(self, slot: int, buf: Any, n: int) -> None:
        """Bytes for the host on ``slot`` (the hub's output)."""
        c = self._client_of(slot)
        if c is not None:
            c.send(buf, n)

    # ---- what the runner waits for ------------------------------------------------
    def read_fds(self) -> list:
        fds: list = []
        if self._srv.fileno() >= 0 and self._clock() >= self._accept_at:
            fds.append(self._srv)
        fds.extend(self.clients)
        fds.extend(self._closing)
        return fds

    def write_fds(self) -> list:
        return [s for s, c in self.clients.items() if c.pending]

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
        elif fd in self.clients:
            self._recv(self.clients[fd], now)
        elif fd in self._closing:
            self._linger(fd)

    def on_writable(self, fd: Optional[Fd] = None) -> None:
        """``fd`` (None: every connection with output waiting) can take bytes."""
        if fd is not None:
            c = self.clients.get(fd)
            if c is not None:
                c.on_writable()
            return
        for c in list(self.clients.values()):
            if c.pending:
                c.on_writable()

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
        (the listening socket: pause accepting; None: every host connection)."""
        self.stats["client_errors"] += 1
        if fd is self._srv:
            self._accept_at = self._clock() + ACCEPT_PAUSE_S
        elif fd in self._closing:
            del self._closing[fd]
            _close(fd)
        elif fd in self.clients:
            self._end(self.clients[fd], now, "dropped after an error")
        elif fd is None:
            for c in list(self.clients.values()):
                self._end(c, now, "dropped after an error")

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

    def _take(self, sock: socket.socket, addr: Any, now: int) -> None:
        self.stats["accepted"] += 1
        ip = str(addr[0])
        peer = "[%s]:%s" % (ip, addr[1]) if ":" in ip else "%s:%s" % (ip, addr[1])
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:                 # gone already (reset before we looked)
            _close(sock)
            return
        if self.clients:
            self._settle(now)           # a BYE or an EOF already waiting frees a slot
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
        slot = self.hub.attach(self, peer)
        if slot < 0:
            # every slot taken: the oldest connection still in its login gives way
            old = next((c for c in self.clients.values() if not self.hub.up(c.slot)), None)
            if old is not None:
                self._end(old, now, "replaced by %s" % peer)
                slot = self.hub.attach(self, peer)
        if slot < 0:
            who = self.hub.hosts_text()
            n = sum(1 for o in self.hub.owners if o is None or o is self)  # this port's share
            self.stats["refused_busy"] += 1
            self._reports.warn("busy", ip, "refused connections from %s (a host is connected)" % ip,
                               "refused host %s: no free host slot (%d; connected: %s)"
                               % (peer, n, who))
            if n == 1:
                text = "gateway busy: another host (%s) is connected; one host at a time" % who
            else:
                text = ("gateway busy: another host is connected on each of the %d host slots "
                        "(%s)" % (n, who))
            self._refuse(sock, t, text)
            return
        self.clients[sock] = _Client(self, sock, peer, ip, slot)
        log.info("%s: host %s connected (host slot %d)", self.url, peer, slot)

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

    # ---- the hosts' connections ------------------------------------------------------
    def _settle(self, now: int) -> None:
        """Read what the current hosts already sent (a BYE, an EOF)."""
        for c in list(self.clients.values()):
            for _ in range(16):
                if c.sock not in self.clients or not self._recv(c, now):
                    break
                self.hub.flush(c.slot)

    def _recv(self, c: _Client, now: int) -> bool:
        """One read from a host; False when there was nothing (or it ended)."""
        try:
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as e:
            data = b""
            log.info("%s: host %s: %s", self.url, c.peer, e.strerror or e)
        if not data:
            log.info("%s: host %s disconnected", self.url, c.peer)
            self._end(c, now, None)
            return False
        self.hub.deliver(self, now, data, c.slot)
        return True

    def _end(self, c: _Client, now: int, why: Optional[str]) -> None:
        """Close a host connection and free its slot (its host is gone)."""
        if self.clients.pop(c.sock, None) is None:
            return
        if why:
            log.info("%s: host %s %s", self.url, c.peer, why)
        _close(c.sock)
        c.pending = bytearray()
        self.hub.hung_up(self, now, c.slot)

    def login_failed(self, now: int, n: int, slot: int = 0) -> None:
        """The login on ``slot``'s connection failed (the session said so):
        count it against the peer, let the refusal out, close the connection."""
        c = self._client_of(slot)
        if c is None:
            return
        t = self._clock()
        count = wait = 0
        for _ in range(n):
            count, wait = self.backoff.failed(c.ip, t)
        self.stats["login_failures"] += n
        log.warning("%s: login from %s failed (%d failed in a row from this address, %d since "
                    "start): its next login is judged in %.1f s at the earliest", self.url,
                    c.peer, count, self.stats["login_failures"], wait)
        self.hub.flush(slot)            # the ERROR goes out before the close
        self.clients.pop(c.sock, None)
        c.pending = bytearray()
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._linger_add(c.sock, t)
        self.hub.hung_up(self, now, slot)

    def logged_in(self, role: int, slot: int = 0) -> None:
        c = self._client_of(slot)
        log.info("%s: host %s logged in (role %s, host slot %d)", self.url,
                 c.peer if c is not None else "?", _ROLE_NAMES.get(role, role), slot)

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

    def _client_failed(self, c: _Client, err: BaseException) -> None:
        if isinstance(err, OSError):
            log.warning("%s: host %s: %s", self.url, c.peer, err.strerror or err)
        else:
            log.error("%s: host %s: unexpected %s on send; connection closed", self.url,
                      c.peer, type(err).__name__, exc_info=err)
        self._end(c, now_us(), None)

    def drop_host(self, why: Optional[str]) -> None:
        """Close every host connection (their hosts are gone)."""
        for c in list(self.clients.values()):
            self._end(c, now_us(), why)

    def close(self) -> None:
        for c in list(self.clients.values()):
            _close(c.sock)
        self.clients = {}
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
    with no back-off.  The line holds one host slot of the hub for as long
    as it is open (its host comes and goes; the slot stays)."""

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
        self.slot = hub.attach(self, self.url)
        if self.slot < 0:
            self._close_fd()
            raise LinkSetupError("no host slot left for the serial line %s: raise max_hosts"
                                 % self.url)
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
            self.hub.hung_up(self, now, self.slot)
            return
        if data:
            self.hub.deliver(self, now, data, self.slot)

    def send_to(self, slot: int, buf: Any, n: int) -> None:
        self.send(buf, n)

    def login_failed(self, now: int, n: int, slot: int = 0) -> None:
        self.login_failures += n
        log.warning("%s: login failed (%d since start)", self.url, self.login_failures)

    def logged_in(self, role: int, slot: int = 0) -> None:
        log.info("%s: host logged in (role %s)", self.url, _ROLE_NAMES.get(role, role))

    def drop_client(self, fd: Optional[Fd], now: int) -> None:
        """Something unexpected on the line: forget its host (the line stays open)."""
        self.pending = bytearray()
        self.hub.hang_up(self, now, self.slot)

    def _write_fd(self, data: bytes) -> int:
        if self._fd < 0:
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
