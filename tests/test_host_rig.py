"""Test rig for the host library (CPython): gateways served in real time over
TCP loopback and over a pseudo-terminal pair, so diagbridge_host talks to
them exactly as to a board or a Pi.

    FakeGateway   the real LinkSession (authentication, credits, drop
                  counting) behind a tiny router: status, CAN listen/send,
                  canned UDS answers, floods on demand
    Server        pumps bytes between a socket / pty master and any object
                  with the gateway's link verbs (feed_link, pop_link,
                  on_timer, deadline) in a thread, in real time

The tests of the rig itself are at the bottom."""
import hashlib
import os
import queue
import select
import socket
import threading
import time
import tty

from diagbridge.clock import TICKS_MASK, ticks_diff
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE
from diagbridge.link import proto as P
from diagbridge.link.config import LinkConfig
from diagbridge.link.session import LinkSession, EV_REQUEST

KEY = b"host-test-key-0123456789abcdef!!"
MONITOR_KEY = b"monitor-key-0123456789abcdef!!!!"
TIMEOUT_S = 10.0
VIN = b"WDB1234567890ABCD"


def now_us():
    return (time.monotonic_ns() // 1000) & TICKS_MASK


class FakeGateway:
    """LinkSession + a router that answers a few requests (no vehicle)."""

    def __init__(self, **link_cfg):
        cfg = dict(keys=((P.ROLE_FULL, KEY), (P.ROLE_MONITOR, MONITOR_KEY)), name=b"fake",
                   buses=((0, P.BUS_CAN, 500000, 0),), heartbeat_ms=200, link_timeout_ms=3000)
        cfg.update(link_cfg)
        self.link = LinkSession(LinkConfig(**cfg), hashlib.sha256, os.urandom)
        self.listen = False
        self.echo = False
        self.requests = []          # (kind, body) of every request that reached the router
        self.posted = 0
        self.refused_posts = 0

    # the gateway's link verbs
    def feed_link(self, now, data, n):
        self.link.feed_bytes(now, data, n)
        self._service(now)

    def on_timer(self, now):
        self.link.on_timer(now)
        self._service(now)

    def pop_link(self, out):
        return self.link.pop_bytes(out)

    def deadline(self):
        return self.link.deadline()

    # things a test asks for (run in the server thread via Server.call)
    def flood(self, now, n, bus=0, can_id=0x123):
        """Post n EV_CAN_RX at once; how many the link queued."""
        ok = 0
        for i in range(n):
            if self.link.post_can_rx(now, (now + i) & TICKS_MASK, bus, can_id, 0,
                                     i.to_bytes(4, "big"), 4):
                ok += 1
        self.posted += ok
        self.refused_posts += n - ok
        return ok

    def _service(self, now):
        s = self.link
        while (ev := s.poll()) != 0:
            if ev != EV_REQUEST:
                continue
            kind, rid, body = s.req_kind, s.req_id, s.body() or {}
            self.requests.append((kind, body))
            if kind == P.MSG_REQ_STATUS:
                s.respond_obj(now, rid, {P.K_RESULT: OK, P.K_UPTIME_MS: 1234,
                                         P.K_STATS: {"link_faults": s.faults,
                                                     "link_refused": s.refused},
                                         P.K_COUNTS: {P.MSG_EV_CAN_RX: s.dropped[0]}})
            elif kind == P.MSG_REQ_CAN_LISTEN:
                self.listen = bool(body.get(P.K_ON))
                self.echo = bool(body.get(P.K_ECHO))
                s.respond(now, rid, OK)
            elif kind == P.MSG_REQ_CAN_SEND:
                s.respond(now, rid, OK)
                if self.listen and self.echo:
                    d = body.get(P.K_DATA, b"")
                    s.post_can_rx(now, now, body.get(P.K_BUS, 0), body.get(P.K_ID, 0),
                                  body.get(P.K_FLAGS, 0) | P.CAN_ECHO, d, len(d))
            elif kind == P.MSG_REQ_CHANNEL:
                s.respond(now, rid, OK)
            elif kind == P.MSG_REQ_UDS:
                req = bytes(body.get(P.K_DATA, b""))
                if req == b"\x22\xf1\x90":
                    rsp = b"\x62\xf1\x90" + VIN
                    s.respond(now, rid, OK, rsp, len(rsp))
                elif req[:1] == b"\xaa":
                    pass                            # held: never answered
                elif req[:1] == b"\x3e":
                    s.respond(now, rid, OK, b"\x7e\x00", 2)
                else:
                    s.respond_obj(now, rid, {P.K_RESULT: A_NEGATIVE_RESPONSE,
                                             P.K_DATA: b"\x7f" + req[:1] + b"\x11",
                                             P.K_NRC: 0x11})
            else:
                s.error(now, rid, 0x78, b"not in the fake")


class Server:
    """Serve `gw` over TCP loopback ("tcp") or a pty pair ("pty") from a
    thread; `url` is what diagbridge_host.connect() takes."""

    def __init__(self, gw, kind="tcp"):
        self.gw = gw
        self.kind = kind
        self._calls = queue.Queue()
        self._running = True
        self._wake_r, self._wake_w = os.pipe()
        self._conn = None
        self.bytes_in = 0
        if kind == "tcp":
            self._srv = socket.socket()
            self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._srv.bind(("127.0.0.1", 0))
            self._srv.listen(4)
            self.url = "tcp://127.0.0.1:%d" % self._srv.getsockname()[1]
        else:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)
            os.set_blocking(self._master, False)
            self.url = "serial://" + os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, daemon=True, name="gw-server")
        self._thread.start()

    def call(self, fn, *args):
        """Run fn(gw, now, *args) in the server thread; its result."""
        done = queue.Queue()
        self._calls.put((fn, args, done))
        os.write(self._wake_w, b"x")
        ok, v = done.get(timeout=TIMEOUT_S)
        if not ok:
            raise v
        return v

    def inject(self, data):
        """Write raw bytes to the host (garbage, bad frames)."""
        self.call(lambda gw, now: self._write(data))

    def drop_client(self):
        """Cut the connection (TCP) as a crashed gateway would."""
        def cut(gw, now):
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self.call(cut)

    def close(self):
        self._running = False
        os.write(self._wake_w, b"x")
        self._thread.join(TIMEOUT_S)
        if self.kind == "tcp":
            if self._conn is not None:
                self._conn.close()
            self._srv.close()
        else:
            os.close(self._master)
            os.close(self._slave)
        os.close(self._wake_r)
        os.close(self._wake_w)

    # ---- the pump -----------------------------------------------------------------
    def _fd(self):
        if self.kind == "tcp":
            return self._conn
        return self._master

    def _write(self, data):
        data = memoryview(bytes(data))
        while data and self._running:
            fd = self._fd()
            if fd is None:
                return
            try:
                if self.kind == "tcp":
                    n = fd.send(data)
                else:
                    n = os.write(fd, data)
                data = data[n:]
            except (BlockingIOError, InterruptedError):
                select.select([], [fd], [], 0.05)
            except OSError:
                return

    def _read(self):
        fd = self._fd()
        try:
            if self.kind == "tcp":
                data = fd.recv(65536)
                if not data:
                    self._conn.close()
                    self._conn = None
                return data
            return os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return b""

    def _run(self):
        gw = self.gw
        out = bytearray(8192)
        while self._running:
            while not self._calls.empty():
                fn, args, done = self._calls.get()
                try:
                    done.put((True, fn(gw, now_us(), *args)))
                except Exception as e:      # noqa: BLE001 (handed to the test)
                    done.put((False, e))
            d = gw.deadline()
            wait = 0.02 if d is None else min(0.02, max(0, ticks_diff(d, now_us())) / 1e6)
            rl = [self._wake_r]
            if self.kind == "tcp":
                rl.append(self._conn if self._conn is not None else self._srv)
            else:
                rl.append(self._master)
            r, _, _ = select.select(rl, [], [], wait)
            if self._wake_r in r:
                os.read(self._wake_r, 4096)
            if self.kind == "tcp" and self._srv in r:
                self._conn, _ = self._srv.accept()
                self._conn.setblocking(False)
                self._conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            elif self._fd() is not None and self._fd() in r:
                data = self._read()
                if data:
                    self.bytes_in += len(data)
                    gw.feed_link(now_us(), data, len(data))
            gw.on_timer(now_us())
            n = gw.pop_link(out)
            while n:
                self._write(out[:n])
                n = gw.pop_link(out)


class VehicleGateway:
    """The simulated vehicle (diagbridge.sim.vehicle) with the gateway's link
    verbs, its virtual clock run along the real one (as sim:// does)."""

    def __init__(self, **kw):
        from diagbridge.sim.vehicle import Vehicle
        from diagbridge_host.transports.sim import RealTime
        kw.setdefault("keys", ((P.ROLE_FULL, KEY), (P.ROLE_MONITOR, MONITOR_KEY)))
        self.vehicle = Vehicle(hashlib.sha256, **kw)
        self.rt = RealTime(self.vehicle)
        self.link = self.vehicle.gw.link
        self._pending = bytearray()

    def feed_link(self, now, data, n):
        self.rt.advance()
        self.vehicle.link.feed(bytes(data[:n]))

    def on_timer(self, now):
        self.rt.advance()

    def pop_link(self, out):
        p = self._pending
        if not p:
            p += self.vehicle.link.read()
        n = min(len(out), len(p))
        out[:n] = p[:n]
        del p[:n]
        return n

    def deadline(self):
        return (now_us() + int(self.rt.wait_s() * 1e6)) & TICKS_MASK


def wait_for(pred, timeout_s=TIMEOUT_S):
    end = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


# ---- the rig's own checks -------------------------------------------------------------
def test_server_answers_a_raw_hello_over_tcp():
    import msgpack
    from diagbridge.link.cobs import encode_frame, frame_size
    srv = Server(FakeGateway(), "tcp")
    try:
        host, port = srv.url[6:].split(":")
        s = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
        msg = msgpack.packb([P.MSG_HELLO, 0, {P.K_VERSION: P.LINK_PROTOCOL_VERSION,
                                              P.K_ROLE: P.ROLE_FULL, P.K_NONCE: b"n" * 16,
                                              P.K_CREDITS: 4}])
        out = bytearray(frame_size(len(msg)))
        s.sendall(bytes(out[:encode_frame(msg, len(msg), out)]))
        assert b"fake" in s.recv(4096)          # HELLO_ACK names the board
        s.close()
    finally:
        srv.close()
