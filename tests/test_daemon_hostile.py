"""The gateway daemon (diagbridge.cpy.gateway) against hostile and broken
clients: connection floods (bounded descriptors, a logged-in host unharmed,
past descriptor 1023 and at a low descriptor limit), an I/O error or a bug on
one client's socket, failed logins backing off per peer, a key-less full
role refused on a network address, no key in any error text or log line.

In-process daemons run their TCP port on a fake clock (lingering, back-off,
log summaries), so nothing here sleeps for its timers; real-socket tests wait
for behaviour with generous timeouts, never for a tight timing."""
import base64
import binascii
import errno
import itertools
import logging
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import diagbridge_host
from diagbridge_host.errors import LinkAuthError, LinkError
from diagbridge.cpy.gateway import link as L
from diagbridge.cpy.gateway.backoff import LoginBackoff, peer_key
from diagbridge.cpy.gateway.config import Board, read_key_file
from diagbridge.cpy.gateway.daemon import Daemon, build_parser, board_from_args
from diagbridge.errors import ConfigError
from diagbridge.link import proto as P

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = b"Zq8vX3kP0wL7mN2bR5tY9cJ4hG6dF1sA"
WRONG = b"Wm4Qe7Rt2Yu9Io0Pa3Sd6Fg8Hj1Kl5Zx"
TIMEOUT_S = 20.0
_ids = itertools.count()


class FakeClock:
    def __init__(self, t=5000.0):
        self.t = t

    def __call__(self):
        return self.t


class FaultySock:
    """A real socket whose recv/send raise what the test arms."""

    def __init__(self, sock):
        self._s = sock
        self.fail_recv = None
        self.fail_send = None

    def __getattr__(self, name):
        return getattr(self._s, name)

    def recv(self, n):
        if self.fail_recv is not None:
            raise self.fail_recv
        return self._s.recv(n)

    def send(self, data):
        if self.fail_send is not None:
            raise self.fail_send
        return self._s.send(data)


class FaultyListener:
    """The daemon's listening socket, wrapped: accepted sockets are
    FaultySocks, and accept() raises the errors queued in ``fail``."""

    def __init__(self, srv):
        self._s = srv
        self.accepted = []
        self.fail = []
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self._s, name)

    def accept(self):
        self.calls += 1
        if self.fail:
            raise self.fail.pop(0)
        s, a = self._s.accept()
        fs = FaultySock(s)
        self.accepted.append(fs)
        return fs, a


class Rig:
    """An in-process daemon on a fresh virtual channel, its TCP port on a
    fake clock and its listening socket wrapped (FaultyListener)."""

    def __init__(self, keys=((P.ROLE_FULL, KEY),), open_role=P.ROLE_NONE, serial=None):
        self.clock = FakeClock()
        board = Board(name="hostile-gw", can=({"interface": "virtual", "channel":
                                               "hostile%d-%d" % (os.getpid(), next(_ids)),
                                               "bitrate": 500000},),
                      link_tcp="tcp://127.0.0.1:0", link_serial=serial,
                      max_hosts=1)      # one TCP host: every other connection is refused
        self.daemon = Daemon(board, keys, open_role, clock=self.clock).open()
        self.port = self.daemon.tcp
        self.listener = FaultyListener(self.port._srv)
        self.port._srv = self.listener
        self.daemon.start()
        self.url = self.daemon.urls[0]
        self.addr = L.parse_tcp(self.url)

    def connect(self, url=None, **kw):
        kw.setdefault("key", KEY)
        kw.setdefault("timeout_s", TIMEOUT_S)
        return diagbridge_host.connect(url or self.url, **kw)

    def in_loop(self, fn):
        """fn() in the daemon's loop thread (also wakes the loop)."""
        return self.daemon.runner.call(lambda gw, now: fn(), TIMEOUT_S)

    def status(self):
        return self.in_loop(self.daemon.status)

    def wait_for(self, cond, what):
        end = time.monotonic() + TIMEOUT_S
        while time.monotonic() < end:
            if self.in_loop(cond):
                return
            time.sleep(0.01)
        raise AssertionError("timed out waiting for " + what)

    def alive(self):
        t = self.daemon.runner._thread
        return not self.daemon.runner.stopped.is_set() and (t is None or t.is_alive())

    def close(self):
        self.daemon.stop()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def _raw_refused(addr, n, timeout_s=TIMEOUT_S):
    """n TCP connections that stay open; returns them once each has been
    answered (the daemon's ERROR frame, or its close)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(addr, timeout=timeout_s)
        s.setblocking(False)
        socks.append(s)
    _wait_answered(socks, timeout_s)
    return socks


def _wait_answered(socks, timeout_s):
    poller = select.poll()
    left = {s.fileno(): s for s in socks}
    for fd in left:
        poller.register(fd, select.POLLIN)
    end = time.monotonic() + timeout_s
    while left and time.monotonic() < end:
        for fd, _ in poller.poll(200):
            poller.unregister(fd)
            left.pop(fd, None)
    assert not left, "%d connections never answered" % len(left)


def _read_all(s):
    out = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            out += d
    except (BlockingIOError, OSError):
        pass
    return out


def _close_all(socks):
    for s in socks:
        s.close()


# ---- the back-off table (a fake time source) -----------------------------------------------
def test_backoff_doubles_per_failure_up_to_its_cap_and_is_forgotten():
    b = LoginBackoff()
    t = 100.0
    assert b.wait_s("10.0.0.5", t) == 0.0 and b.refuse("10.0.0.5", t) == 0.0
    waits = [b.failed("10.0.0.5", t)[1] for _ in range(12)]
    assert waits[:8] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6])
    assert waits[8:] == [30.0] * 4                                 # capped
    assert b.failed_logins("10.0.0.5", t) == 12 and b.failures == 12
    assert b.wait_s("10.0.0.5", t + 29.9) == pytest.approx(0.1)
    assert b.refuse("10.0.0.5", t + 29.9) > 0 and b.refused == 1
    assert b.wait_s("10.0.0.6", t) == 0.0                          # per peer
    assert b.wait_s("10.0.0.5", t + 30.0) == 0.0
    assert b.failed_logins("10.0.0.5", t + 30.0 + 599) == 12        # still remembered ...
    assert b.failed_logins("10.0.0.5", t + 30.0 + 600) == 0         # ... then forgotten
    assert b.failed("10.0.0.5", t + 700)[1] == pytest.approx(0.2)   # starts again


def test_backoff_keys_and_a_bounded_table():
    assert peer_key("192.0.2.7") == "192.0.2.7"
    assert peer_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert peer_key("2001:db8:1:2:aaaa::1") == peer_key("2001:db8:1:2:bbbb::9") \
        == "2001:db8:1:2::/64"
    assert peer_key("fe80::1%eth0") == "fe80::/64"
    b = LoginBackoff(max_peers=8)
    for i in range(100):
        b.failed("10.1.0.%d" % i, 1.0 + i)
    assert len(b) == 8
    assert b.wait_s("10.1.0.99", 100.0) > 0 and b.wait_s("10.1.0.0", 100.0) == 0.0
    with pytest.raises(ValueError):
        LoginBackoff(base_s=1.0, cap_s=0.5)


# ---- failed logins over TCP (an in-process daemon on a fake clock) --------------------------
def test_failed_logins_back_off_per_peer_and_are_counted(rig, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LinkAuthError):
        rig.connect(key=WRONG)
    for _ in range(2):                              # during the back-off: refused, counted
        with pytest.raises(LinkError, match="too many failed logins from 127.0.0.1"):
            rig.connect()
    rig.clock.t += 0.19
    with pytest.raises(LinkError, match="too many failed logins"):
        rig.connect()
    rig.clock.t += 0.02                             # 0.2 s after the failure: judged again
    with pytest.raises(LinkAuthError):
        rig.connect(key=WRONG)                      # second failure: 0.4 s
    rig.clock.t += 0.3
    with pytest.raises(LinkError, match="too many failed logins"):
        rig.connect()
    rig.clock.t += 0.11
    with rig.connect() as conn:
        stats = conn.status().stats
        assert stats["auth_failures"] == 2                          # in STATUS
        assert stats["refused_connections"] == 4 and stats["refused_login_backoff"] == 4
    st = rig.status()
    assert st["login_failures"] == 2 and st["refused_backoff"] == 4
    assert st["auth_failures"] == 2 and st["backoff_peers"] == 1
    log = caplog.text
    assert "login from 127.0.0.1:" in log and "2 failed in a row from this address" in log
    assert "next login is judged in 0.4 s" in log
    assert rig.alive()
    _no_key_in(log, KEY)
    _no_key_in(log, WRONG)


def test_failed_logins_on_a_serial_line_back_off_and_are_counted(caplog):
    """A serial line is one peer: after a wrong key its next login waits
    0.2 s (then 0.4 s ...), a login meanwhile gets the refusal; TCP peers
    are not held by the line's back-off; STATUS counts all of it."""
    caplog.set_level(logging.DEBUG)
    r = Rig(serial="pty")
    try:
        line = r.daemon.urls[1]
        assert line.startswith("serial:///dev/")
        with pytest.raises(LinkAuthError):
            r.connect(url=line, key=WRONG)
        with pytest.raises(LinkError, match="too many failed logins on %s: try again in 0.2 s"
                           % line):
            r.connect(url=line)
        r.clock.t += 0.19
        with pytest.raises(LinkError, match="too many failed logins on serial"):
            r.connect(url=line)
        with r.connect() as conn:                       # a TCP peer is not held
            st = conn.status().stats
            assert st["auth_failures"] == 1 and st["refused_login_backoff"] >= 2
            assert st["refused_connections"] == 0
        r.clock.t += 0.02                               # 0.2 s after the failure
        with r.connect(url=line) as conn:
            st = conn.status().stats
            assert st["auth_failures"] == 1
        with pytest.raises(LinkAuthError):
            r.connect(url=line, key=WRONG)              # the second failure: 0.4 s
        with pytest.raises(LinkError, match="try again in 0.4 s"):
            r.connect(url=line)
        st = r.status()
        assert st["serial_login_failures"] == 2 and st["serial_refused_backoff"] >= 3
        assert st["auth_failures"] == 2 and st["login_failures"] == 0   # none on TCP
        assert "2 failed logins in a row on this line" in caplog.text
        assert r.alive()
        _no_key_in(caplog.text, KEY)
        _no_key_in(caplog.text, WRONG)
    finally:
        r.close()


def test_a_failed_login_closes_its_connection(rig):
    """One guess per connection: after the refusal the daemon closes it,
    so a client cannot retry on the same connection during the back-off."""
    from diagbridge_host.link import HostLink

    s = socket.create_connection(rig.addr, timeout=TIMEOUT_S)
    link = HostLink(key=WRONG, role=P.ROLE_FULL)
    link.connect(time.monotonic())
    s.sendall(link.data_to_send())
    got = b""
    s.settimeout(TIMEOUT_S)
    with pytest.raises(LinkAuthError):
        while True:
            d = s.recv(4096)
            assert d, "closed before the challenge"
            got += d
            link.receive_bytes(time.monotonic(), d)
            out = link.data_to_send()
            if out:
                s.sendall(out)
    # a second HELLO on the same connection is not judged: the daemon hangs up
    link2 = HostLink(key=KEY, role=P.ROLE_FULL)
    link2.connect(time.monotonic())
    try:
        s.sendall(link2.data_to_send())
    except OSError:
        pass
    rest = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            rest += d
    except OSError:
        pass
    assert P.MSG_HELLO_ACK not in _kinds(rest)
    s.close()
    assert rig.status()["login_failures"] == 1


def _kinds(data):
    from diagbridge.link.cobs import Deframer, EV_FRAME
    import msgpack
    d = Deframer(4096)
    kinds = []
    i = 0
    while i < len(data):
        i = d.feed_bytes(0, data, len(data), i)
        if d.poll() == EV_FRAME:
            kinds.append(msgpack.unpackb(bytes(d.payload[:d.length]))[0])
    return kinds


# ---- floods (in-process, exact counts on the fake clock) ------------------------------------
def test_refused_connections_are_bounded_and_the_host_unharmed(rig, caplog):
    caplog.set_level(logging.INFO)
    n = 3 * L.MAX_CLOSING + 4
    with rig.connect() as conn:
        socks = []
        for wave in range(0, n, 25):
            socks += _raw_refused(rig.addr, min(25, n - wave))
            assert conn.status().uptime_ms >= 0                    # answered meanwhile
        st = rig.status()
        assert st["refused_busy"] == n and st["lingering"] == L.MAX_CLOSING
        stats = conn.status().stats                                 # the flood, in STATUS
        assert stats["refused_connections"] == n and stats["refused_login_backoff"] == 0
        assert st["closed_early"] == n - L.MAX_CLOSING                # the oldest went first
        texts = [_read_all(s) for s in socks]
        assert all(b"gateway busy: another host" in t for t in texts)
        # one log line for the flood, then a summary per period
        refused_lines = [r for r in caplog.records if "refused host" in r.getMessage()]
        assert len(refused_lines) == 1
        rig.clock.t += L.REPORT_S
        rig.in_loop(lambda: None)
        rig.in_loop(lambda: None)
        assert ("%d more refused connections from 127.0.0.1 (a host is connected)" % (n - 1)
                in caplog.text)
        rig.clock.t += L.LINGER_S                                     # the linger ends
        rig.wait_for(lambda: rig.port.lingering == 0, "the lingering connections to close")
        _close_all(socks)
        assert conn.status().uptime_ms >= 0
    with rig.connect() as conn:                                       # the next host
        assert conn.is_up
    assert rig.alive() and rig.status()["runner_client_errors"] == 0


def test_no_descriptor_for_accept_sheds_or_pauses_without_spinning(rig):
    with rig.connect() as conn:
        socks = _raw_refused(rig.addr, 3)
        rig.listener.fail.append(OSError(errno.EMFILE, "Too many open files"))
        socks += _raw_refused(rig.addr, 1)          # one lingering one gave way to it
        st = rig.status()
        assert st["accept_errors"] == 1 and st["closed_early"] == 1 and st["lingering"] == 3
        assert conn.status().uptime_ms >= 0
        _close_all(socks)
    rig.wait_for(lambda: rig.port.lingering == 0, "the refused connections to close")
    # nothing to shed: accepting pauses, and the loop does not spin on the listener
    rig.listener.fail.append(OSError(errno.EMFILE, "Too many open files"))
    calls = rig.listener.calls
    s = socket.create_connection(rig.addr, timeout=TIMEOUT_S)
    rig.wait_for(lambda: rig.daemon.status()["accept_errors"] == 2, "the failed accept")
    time.sleep(0.3)
    assert rig.listener.calls == calls + 1
    assert rig.in_loop(lambda: rig.listener not in rig.port.read_fds())
    rig.clock.t += L.ACCEPT_PAUSE_S
    rig.in_loop(lambda: None)
    with rig.connect() as conn:                     # accepts again (and replaces s)
        assert conn.status().uptime_ms >= 0
    s.close()
    assert rig.alive()


# ---- one client's socket fails (injected) -----------------------------------------------------
@pytest.mark.parametrize("exc", [ConnectionResetError(errno.ECONNRESET, "reset"),
                                 OSError(errno.EBADF, "Bad file descriptor"),
                                 RuntimeError("a bug in handling one client")])
def test_an_error_on_one_refused_client_leaves_the_runner_and_the_host(rig, exc, caplog):
    with rig.connect() as conn:
        b = _raw_refused(rig.addr, 1)[0]
        rig.wait_for(lambda: rig.port.lingering == 1, "the refused client to linger")
        fs = rig.listener.accepted[-1]
        fs.fail_recv = exc
        b.send(b"junk")                                           # the daemon reads it
        rig.wait_for(lambda: rig.port.lingering == 0, "the failing client to be dropped")
        assert conn.status().uptime_ms >= 0
        st = rig.status()
        unexpected = not isinstance(exc, OSError)
        assert st["runner_client_errors"] == (1 if unexpected else 0)
        if unexpected:
            assert "unexpected error on a client connection" in caplog.text
        b.close()
    assert rig.alive()


@pytest.mark.parametrize("where, exc", [
    ("send", BrokenPipeError(errno.EPIPE, "Broken pipe")),
    ("send", OSError(errno.EBADF, "Bad file descriptor")),
    ("recv", ConnectionResetError(errno.ECONNRESET, "reset")),
    ("recv", OSError(errno.EBADF, "Bad file descriptor")),
    ("recv", ValueError("a bug in handling one client")),
])
def test_an_error_on_the_hosts_socket_drops_that_host_only(rig, where, exc):
    conn = rig.connect()
    try:
        assert conn.status().uptime_ms >= 0
        fs = rig.listener.accepted[-1]
        setattr(fs, "fail_" + where, exc)
        try:
            conn.status(timeout_s=2.0)          # the trigger: bytes each way
        except Exception:                       # noqa: BLE001 (lost or timed out: both fine)
            pass
        rig.wait_for(lambda: rig.port.conn is None, "the failing host to be dropped")
        assert not rig.in_loop(lambda: rig.daemon.hub.busy())
    finally:
        conn.close()
    with rig.connect() as other:                # the next host gets in and is served
        assert other.status().uptime_ms >= 0
    assert rig.alive()


def test_an_unregisterable_descriptor_drops_that_client_only(rig):
    """A client object the selector cannot wait on (a closed descriptor
    number the port still lists, say) is dropped; the loop goes on."""
    class Broken:
        def fileno(self):
            return 2 ** 20                      # no such descriptor

        def close(self):
            pass
    broken = Broken()
    with rig.connect() as conn:
        rig.in_loop(lambda: rig.port._closing.__setitem__(broken, rig.clock.t + 1))
        rig.wait_for(lambda: broken not in rig.port._closing, "the broken client to go")
        assert conn.status().uptime_ms >= 0
        assert rig.status()["runner_client_errors"] >= 1
    assert rig.alive()


# ---- floods on a real daemon process -------------------------------------------------------
_WRAPPER = ("import resource, runpy, sys\n"
            "n = int(sys.argv.pop(1))\n"
            "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
            "if hard != resource.RLIM_INFINITY:\n"
            "    n = min(n, hard)\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))\n"
            "sys.argv[0] = 'diagbridge-gw'\n"
            "runpy.run_module('diagbridge.cpy.gateway.daemon', run_name='__main__')\n")


class GwProcess:
    """diagbridge-gw in a subprocess with RLIMIT_NOFILE set to ``nofile``;
    its stderr is read by a thread (so its log can never block it)."""

    def __init__(self, nofile, *args):
        self.p = subprocess.Popen(
            [sys.executable, "-c", _WRAPPER, str(nofile), "--interface", "virtual",
             "--channel", "flood%d-%d" % (os.getpid(), next(_ids)),
             "--listen", "tcp://127.0.0.1:0", "--open-role", "full",
             "--max-hosts", "1"] + list(args),      # one host: the flood is refused
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.err = []
        threading.Thread(target=lambda: self.err.extend(self.p.stderr), daemon=True).start()
        line = self.p.stdout.readline()
        assert "host link on tcp://127.0.0.1:" in line, (line, "".join(self.err))
        self.url = line.split()[-1]
        self.addr = L.parse_tcp(self.url)

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.p.pid))

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        """SIGTERM; the counters from its last log line."""
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(TIMEOUT_S)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        time.sleep(0.1)
        text = "".join(self.err)
        m = re.search(r"host link counters: (.*)", text)
        counters = dict((k, int(v)) for k, v in
                        (kv.rsplit(" ", 1) for kv in m.group(1).split(", "))) if m else {}
        return self.p.returncode, text, counters


def _flood(gw, conn, n, wave=32):
    """n connections held open, in waves; the host is asked between waves.
    Returns (the sockets, the most descriptors the daemon had)."""
    socks = []
    most = 0
    for i in range(0, n, wave):
        batch = []
        for _ in range(min(wave, n - i)):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(gw.addr)
            batch.append(s)
        socks += batch
        end = time.monotonic() + TIMEOUT_S * 3
        poller = select.poll()
        left = {s.fileno() for s in batch}
        for fd in left:
            poller.register(fd, select.POLLIN)
        while left and time.monotonic() < end and gw.alive():
            for fd, _ in poller.poll(100):
                poller.unregister(fd)
                left.discard(fd)
            most = max(most, gw.fds())
        assert gw.alive(), "the daemon died in the flood: " + "".join(gw.err)[-2000:]
        assert not left, "%d connections never answered" % len(left)
        assert conn.status().uptime_ms >= 0                   # the session still works
    return socks, most


@pytest.fixture
def many_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4096
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip("RLIMIT_NOFILE hard limit %d < %d: cannot open >1024 sockets" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_flood_past_descriptor_1023_leaves_the_daemon_and_its_host(many_fds):
    """The bug: each refused connection lingered 2 s with no limit, and
    select() raised past descriptor 1023, ending the daemon and its host."""
    n = 1100
    gw = GwProcess(4096)
    socks = []
    try:
        with diagbridge_host.connect(gw.url, timeout_s=TIMEOUT_S) as conn:
            base = gw.fds()
            socks, most = _flood(gw, conn, n)
            assert most <= base + L.MAX_CLOSING + 4, (base, most)
            texts = [_read_all(s) for s in socks]
            assert sum(b"gateway busy" in t for t in texts) == n
            _close_all(socks)
            socks = []
            assert conn.status().uptime_ms >= 0 and gw.alive()
        with diagbridge_host.connect(gw.url, timeout_s=TIMEOUT_S) as conn:    # the next host
            assert conn.status().uptime_ms >= 0
    finally:
        _close_all(socks)
        rc, err, counters = gw.stop()
    assert rc == 0 and "Traceback" not in err, err[-3000:]
    assert counters["refused_busy"] == n and counters["accepted"] == n + 2
    assert counters["closed_early"] > 0 and counters["runner_client_errors"] == 0
    assert err.count("refused host") <= 5                    # a flood does not flood the log


def test_a_flood_at_a_low_descriptor_limit_keeps_serving():
    """RLIMIT_NOFILE below what the linger bound needs: accept() runs out of
    descriptors; the daemon sheds lingering connections (or pauses), goes on
    serving the host and takes the next one afterwards."""
    limit = 40
    gw = GwProcess(limit)
    socks = []
    try:
        with diagbridge_host.connect(gw.url, timeout_s=TIMEOUT_S) as conn:
            socks, most = _flood(gw, conn, 300, wave=20)
            assert most <= limit
            _close_all(socks)
            socks = []
            assert conn.status().uptime_ms >= 0 and gw.alive()
        end = time.monotonic() + TIMEOUT_S
        while True:                             # the next host (after the lingering ones go)
            try:
                with diagbridge_host.connect(gw.url, timeout_s=TIMEOUT_S) as conn:
                    assert conn.status().uptime_ms >= 0
                break
            except LinkError:
                assert time.monotonic() < end
                time.sleep(0.1)
    finally:
        _close_all(socks)
        rc, err, counters = gw.stop()
    assert rc == 0 and "Traceback" not in err, err[-3000:]
    assert err.count("accept failed") <= 6, err[-3000:]      # counted, not one line each
    assert counters["accept_errors"] > 0 and counters["runner_client_errors"] == 0


# ---- exposure: loopback by default, a key-less full role refused on a network ---------------
def test_loopback_detection():
    for h in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "localhost"):
        assert L.is_loopback_host(h), h
    for h in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "2001:db8::1"):
        assert not L.is_loopback_host(h), h
    assert L.tcp_is_loopback("tcp://127.0.0.1:6520") and not L.tcp_is_loopback("tcp://:6520")


def test_the_default_listen_address_is_loopback():
    board = board_from_args(build_parser().parse_args(["--interface", "virtual"]))
    assert board.link_tcp == "tcp://127.0.0.1:6520"


def _board(listen):
    return Board(name="x", can=(), link_tcp=listen)


def test_open_full_role_on_a_network_address_needs_the_confirming_option(caplog):
    with pytest.raises(ConfigError, match="--allow-open-full-role-on-network"):
        Daemon(_board("tcp://0.0.0.0:0"), (), P.ROLE_FULL).check_exposure()
    Daemon(_board("tcp://0.0.0.0:0"), (), P.ROLE_FULL,
           allow_open_full_on_network=True).check_exposure()
    Daemon(_board("tcp://127.0.0.1:0"), (), P.ROLE_FULL).check_exposure()
    Daemon(_board("tcp://0.0.0.0:0"), ((P.ROLE_FULL, KEY),), P.ROLE_NONE).check_exposure()
    caplog.set_level(logging.WARNING)
    Daemon(_board("tcp://0.0.0.0:0"), ((P.ROLE_FULL, KEY),), P.ROLE_MONITOR).check_exposure()
    assert "monitor role is granted there without a key" in caplog.text


def _gw(*args):
    return subprocess.Popen([sys.executable, "-m", "diagbridge.cpy.gateway.daemon"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_the_command_line_refuses_open_full_on_the_network_unless_confirmed():
    p = _gw("--interface", "virtual", "--channel", "exp1", "--listen", "tcp://0.0.0.0:0",
            "--open-role", "full")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "reachable from the network" in err
    assert "--allow-open-full-role-on-network" in err and "Traceback" not in err
    p = _gw("--interface", "virtual", "--channel", "exp2", "--listen", "tcp://0.0.0.0:0",
            "--open-role", "full", "--allow-open-full-role-on-network")
    try:
        line = p.stdout.readline()
        assert line.startswith("diagbridge-gw: host link on tcp://0.0.0.0:"), line
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=TIMEOUT_S)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and "open to the network" in err


# ---- nothing of a key in an error text or a log line ----------------------------------------
def _no_key_in(text, key):
    """No 6-byte window of the key, as text, hex or base64, is in text."""
    low = text.lower()
    for i in range(len(key) - 5):
        w = key[i:i + 6]
        assert w.decode("latin-1") not in text, w
        assert binascii.hexlify(w).decode() not in low, w
    assert base64.b64encode(key).decode()[:8] not in text


@pytest.mark.parametrize("content", [
    b"full: hex:" + b"0123456789abcdef0123456789abcdezz",           # not hex
    b"full: hex:" + b"0123456789abcdef0123456789abcde",             # odd length
    b"full: base64:QUJDREVGR0hJSktMTU5PUFFSU1RVVg=*",              # not base64
    b"full: s3cr3t-\xff\xfe-bytes-of-a-key-0123456789",              # not UTF-8
    b"full: short-key",                                              # too short
    b"full: s3cr3t-but-fine-0123456789\nfull: other-s3cr3t-9876543210\n",   # twice
    b"s3cr3t-line-one-0123456789\ns3cr3t-line-two-0123456789\n",   # no ROLE:
])
def test_key_file_errors_quote_nothing_of_the_key(tmp_path, content):
    path = tmp_path / "key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError) as ei:
        read_key_file(str(path))
    msg = str(ei.value)
    for line in content.splitlines():
        value = line.partition(b":")[2].strip() if b":" in line else line
        for prefix in (b"hex:", b"base64:"):
            if value.startswith(prefix):
                value = value[len(prefix):]
        if len(value) >= 6:
            _no_key_in(msg, value)


def test_no_log_line_holds_the_key_at_debug_level(caplog):
    caplog.set_level(logging.DEBUG)
    r = Rig()
    try:
        with pytest.raises(LinkAuthError) as ei:
            r.connect(key=WRONG)
        r.clock.t += 1.0
        with r.connect() as conn:
            conn.status()
    finally:
        r.close()
    for key in (KEY, WRONG):
        _no_key_in(caplog.text, key)
        _no_key_in(str(ei.value), key)
