# The MicroPython board's loop body (diagbridge.gateway.loop.GatewayLoop) driven
# by simulated I/O: sim CAN ports with the board driver's contract, a byte
# pipe as the host link, the engine ECU on the virtual bus.  A host logs in,
# reads the VIN, listens to raw CAN; the steady state of one step (a frame
# in -> EV_CAN_RX out on the link) is allocation-free; a failed login backs
# off on the board's one-peer link; a board with two UARTs serves two hosts at
# once, one host slot each.  Runs under pytest and real MicroPython.
import hashlib

from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS
from diagbridge.codes import OK, LINK_AUTH_FAILED, LINK_UNEXPECTED
from diagbridge.ecu import Ecu
from diagbridge.gateway import Gateway, GatewayConfig
from diagbridge.link import proto as P
from diagbridge.link.config import LinkConfig
from diagbridge.gateway.loop import GatewayLoop
from diagbridge.sim.canbus import CanBus
from diagbridge.sim.ecu_node import EcuNode
from diagbridge.sim.kernel import Kernel
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from gateway_support import VHost, KEYS, ENGINE, PipeLink
from link_support import HOST_NONCE
from support import run_locked

_RING = 64


class SimCan:
    """A board CAN driver's contract on a virtual bus port: a fixed ring of
    received frames (as a controller's FIFO), send() onto the bus."""

    def __init__(self, port, wake):
        self.port = port
        self.wake = wake
        self.ids = [0] * _RING
        self.flags = bytearray(_RING)
        self.lens = bytearray(_RING)
        self.data = bytearray(_RING * 64)
        self.head = 0
        self.count = 0
        self.rx_id = 0
        self.rx_flags = 0
        self.overruns = 0
        port.on_rx = self._on_rx

    def push(self, can_id, data, n, flags):
        """A frame into the FIFO (the controller's receive; no allocation)."""
        if self.count == _RING:
            self.overruns += 1
            return
        s = (self.head + self.count) % _RING
        self.ids[s] = can_id
        self.flags[s] = flags
        self.lens[s] = n
        base = s * 64
        for i in range(n):
            self.data[base + i] = data[i]
        self.count += 1

    def _on_rx(self, now, frame):
        fl = FLAG_EXT if frame.extended else 0
        if frame.fd:
            fl |= FLAG_FD | (FLAG_BRS if frame.brs else 0)
        self.push(frame.can_id, frame.data, len(frame.data), fl)
        self.wake(now)

    def recv(self, buf):
        if not self.count:
            return -1
        s = self.head
        n = self.lens[s]
        base = s * 64
        for i in range(n):
            buf[i] = self.data[base + i]
        self.rx_id = self.ids[s]
        self.rx_flags = self.flags[s]
        self.head = (s + 1) % _RING
        self.count -= 1
        return n

    def send(self, can_id, buf, n, flags, tag):
        self.port.send(can_id, buf, n, bool(flags & FLAG_EXT), bool(flags & FLAG_FD),
                       bool(flags & FLAG_BRS))
        return True


class UartEnd:
    """The host end of a board's UART number i (what VHost calls)."""

    def __init__(self, board, i):
        self.board = board
        self.pipe = board.pipes[i]

    def feed(self, data):
        p = self.pipe
        for i in range(len(data)):
            p.inb[p.in_n + i] = data[i]
        p.in_n += len(data)
        self.board.loop.step(self.board.k.now)

    def read(self):
        p = self.pipe
        b = bytes(p.out[:p.out_n])
        p.out_n = 0
        return b

    def available(self):
        return self.pipe.out_n


class Board:
    """The duck 'vehicle' VHost drives: kernel, link pipe, run_for/run_until;
    the gateway runs only through GatewayLoop.step (as on a board).  uarts:
    host links (one host slot each: GatewayConfig.max_hosts = uarts)."""

    def __init__(self, open_role=P.ROLE_NONE, uarts=1):
        k = Kernel()
        self.k = k
        self.bus = CanBus(k, "can0", 500000)
        self.ecu = EcuNode(k, self.bus.attach("engine"), Ecu(
            Profile(engine.profile(), sources=engine.sources(engine.EngineState()))))
        lcfg = LinkConfig(name=b"mpy-board", keys=KEYS, buses=((0, P.BUS_CAN, 500000, 0),),
                          open_role=open_role)
        self.gw = Gateway(GatewayConfig(n_buses=1, max_hosts=uarts, tx_confirm=False), lcfg,
                          hashlib.sha256, lambda n: bytes(range(n)))
        self.can = SimCan(self.bus.attach("board"), self._step)
        self.pipes = [PipeLink() for _ in range(uarts)]
        self.pipe = self.pipes[0]
        self.loop = GatewayLoop(self.gw, (self.can,), self.pipe if uarts == 1 else
                                tuple(self.pipes))
        self.link = self
        k.add_node(self)

    # kernel node: the board's asyncio wait, in virtual time
    def deadline(self):
        return self.gw.deadline()

    def on_timer(self, now):
        self.loop.step(now)

    def _step(self, now):
        self.loop.step(now)

    # the host side of the link (what VHost calls)
    def feed(self, data):
        p = self.pipe
        for i in range(len(data)):
            p.inb[p.in_n + i] = data[i]
        p.in_n += len(data)
        self.loop.step(self.k.now)

    def read(self):
        p = self.pipe
        b = bytes(p.out[:p.out_n])
        p.out_n = 0
        return b

    def available(self):
        return self.pipe.out_n

    def run_for(self, us):
        return self.k.run_for(us)

    def run_until(self, pred, max_us):
        return self.k.run_until(pred, max_us)


def _logged_in(open_role=P.ROLE_NONE):
    b = Board(open_role)
    h = VHost(b)
    m = h.login(P.ROLE_FULL)
    assert m[0] == P.MSG_AUTH_OK, m
    return b, h


def test_board_loop_serves_a_host_vin_and_raw_can():
    b, h = _logged_in()
    h.open(1, ENGINE)
    r = h.uds(1, b"\x22\xf1\x90")
    assert r[P.K_RESULT] == OK and r[P.K_DATA] == b"\x62\xf1\x90W0L000043MB541326"
    h.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0, P.K_FILTERS: [[0x7E8, 0x7FF]]})
    tester = b.bus.attach("tester")
    tester.send(0x7E0, b"\x02\x3e\x00\xcc\xcc\xcc\xcc\xcc")
    h.run(20000)
    rx = [e for e in h.events if e[0] == P.MSG_EV_CAN_RX]
    assert len(rx) == 1 and rx[0][2][P.K_ID] == 0x7E8 and rx[0][2][P.K_DATA][:3] == b"\x02\x7e\x00"
    # VIN: FF + 2 CF; then the other tester's 3E 00 and the answer
    assert b.loop.frames_in == 5 and b.loop.tx_failed == 0 and b.can.overruns == 0


def test_board_loop_step_is_allocation_free():
    # An open-role login: a keyed one adds the frame MAC, whose hash objects
    # MicroPython's hashlib allocates per frame (test_link_mac.py measures it).
    b, h = _logged_in(P.ROLE_FULL)
    h.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0})
    frame = bytearray(b"\x11\x22\x33\x44\x55\x66\x77\x88")
    now = b.k.now
    b.loop.step(now)                    # warm up
    before = b.pipe.out_n
    for i in range(20):
        frame[0] = i
        b.can.push(0x123, frame, 8, 0)
        run_locked(lambda: b.loop.step(now))
    assert b.pipe.out_n > before
    h.run(10000)
    rx = [e for e in h.events if e[0] == P.MSG_EV_CAN_RX]
    assert [e[2][P.K_DATA][0] for e in rx] == list(range(20))
    assert all(e[2][P.K_ID] == 0x123 for e in rx)


def test_board_loop_backs_off_after_a_failed_login():
    """The board's link has one peer: after a wrong key the next HELLO is
    answered with the refusal, not judged, until 200 ms have passed."""
    b = Board()
    h = VHost(b)
    hello = {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_ROLE: P.ROLE_FULL,
             P.K_NONCE: HOST_NONCE, P.K_CREDITS: 8}
    h.send(P.MSG_HELLO, 0, hello)
    assert h.take(lambda m: m[0] == P.MSG_CHALLENGE) is not None
    h.send(P.MSG_AUTH, 0, {P.K_MAC: bytes(32)})
    m = h.take(lambda m: m[0] == P.MSG_ERROR)
    assert m[2][P.K_CODE] == LINK_AUTH_FAILED
    h.inbox = []
    t = b.k.elapsed_us
    b.run_for(100000)
    h.send(P.MSG_HELLO, 0, hello)
    m = h.take(lambda m: m[0] in (P.MSG_HELLO_ACK, P.MSG_ERROR), 1)
    assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_UNEXPECTED
    assert m[2][P.K_TEXT].startswith("too many failed logins on this link")
    assert b.gw.login.refused == 1 and b.gw.link.auth_failures == 1
    b.run_for(200000 - (b.k.elapsed_us - t))
    h.pump()
    h.inbox = []
    m = h.login(P.ROLE_FULL)
    assert m[0] == P.MSG_AUTH_OK, m


def test_two_uarts_serve_two_hosts_at_once():
    b = Board(P.ROLE_FULL, uarts=2)     # open role: no frame MAC (it allocates per frame)
    a = VHost(b)
    m = a.login(P.ROLE_FULL)
    assert m[0] == P.MSG_AUTH_OK, m
    c = VHost(b, pipe=UartEnd(b, 1))
    m = c.login(P.ROLE_MONITOR)
    assert m[0] == P.MSG_AUTH_OK, m
    c.ok(P.MSG_REQ_CAN_LISTEN, {P.K_BUS: 0, P.K_FILTERS: [[0x7E8, 0x7FF], [0x123, 0x7FF]]})
    a.open(1, ENGINE)
    r = a.uds(1, b"\x22\xf1\x90")
    assert r[P.K_RESULT] == OK and r[P.K_DATA] == b"\x62\xf1\x90W0L000043MB541326"
    c.run(20000)
    rx = [e[2] for e in c.events if e[0] == P.MSG_EV_CAN_RX]
    assert [e[P.K_ID] for e in rx] == [0x7E8] * 3           # the VIN's FF and 2 CF, seen by c
    assert [e for e in a.events if e[0] == P.MSG_EV_CAN_RX] == []
    st = c.ok(P.MSG_REQ_STATUS, {})
    assert [(h["slot"], h["role"]) for h in st[P.K_HOSTS]] == [(0, P.ROLE_FULL),
                                                               (1, P.ROLE_MONITOR)]
    # one step, a frame in -> EV_CAN_RX out on the second UART: allocation-free
    frame = bytearray(b"\x11\x22\x33\x44\x55\x66\x77\x88")
    now = b.k.now
    b.loop.step(now)
    before = b.pipes[1].out_n
    b.can.push(0x123, frame, 8, 0)     # (not for a's channel: no flow control to send)
    run_locked(lambda: b.loop.step(now))
    assert b.pipes[1].out_n > before and b.pipes[0].out_n == 0
