# The board's gateway loop (gateway/loop.py GatewayLoop.step) with the
# MCP2515 driver as its CAN port: the driver talks SPI to the register-level
# model (mcp2515_support.py), whose bus side is wired to the simulated CAN bus
# with the engine ECU on it.  A host logs in, reads the VIN (a segmented
# answer through both RX buffers) and sends raw frames: the port contract in
# use, as on the Pico.  Runs under pytest and real MicroPython.
import hashlib

from diagbridge.codes import OK
from diagbridge.ecu import Ecu
from diagbridge.gateway import Gateway, GatewayConfig
from diagbridge.gateway.loop import GatewayLoop
from diagbridge.link import proto as P
from diagbridge.link.config import LinkConfig
from diagbridge.mpy.mcp2515 import Mcp2515
from diagbridge.sim.canbus import CanBus
from diagbridge.sim.ecu_node import EcuNode
from diagbridge.sim.kernel import Kernel
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from gateway_support import VHost, KEYS, ENGINE, PipeLink
from mcp2515_support import Mcp2515Model


class Board:
    """A Pico with an MCP2515 on the simulated bus; the gateway runs only
    through GatewayLoop.step, the chip's pins through the model."""

    def __init__(self, tx_confirm=False):
        k = Kernel()
        self.k = k
        self.bus = CanBus(k, "can0", 500000)
        self.ecu = EcuNode(k, self.bus.attach("engine"), Ecu(
            Profile(engine.profile(), sources=engine.sources(engine.EngineState()))))
        lcfg = LinkConfig(name=b"rp2-mcp2515", keys=KEYS, buses=((0, P.BUS_CAN, 500000, 0),))
        self.gw = Gateway(GatewayConfig(n_buses=1, tx_confirm=tx_confirm), lcfg, hashlib.sha256,
                          lambda n: bytes(range(n)))
        self.chip = Mcp2515Model()
        self.can = Mcp2515(self.chip.spi, self.chip.cs, xtal_hz=16000000, bitrate=500000,
                           int_pin=self.chip.int_pin, tx_confirm=tx_confirm)
        self.port = self.bus.attach("board")
        self.port.on_rx = self._on_rx
        self.pipe = PipeLink()
        self.loop = GatewayLoop(self.gw, (self.can,), self.pipe)
        self.link = self
        self.sent = []
        k.add_node(self)

    def _on_rx(self, now, frame):
        self.chip.receive(frame.can_id, frame.data, ext=frame.extended)
        self.step(now)

    def step(self, now):
        """The loop's step, then the chip's pending frames onto the wire."""
        while True:
            self.loop.step(now)
            f = self.chip.transmit()
            if f is None:
                return
            while f is not None:
                self.sent.append(f)
                self.port.send(f[0], f[2], len(f[2]), f[1])
                f = self.chip.transmit()

    # kernel node
    def deadline(self):
        return self.gw.deadline()

    def on_timer(self, now):
        self.step(now)

    # the host side of the link (what VHost calls)
    def feed(self, data):
        p = self.pipe
        for i in range(len(data)):
            p.inb[p.in_n + i] = data[i]
        p.in_n += len(data)
        self.step(self.k.now)

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


def test_gateway_reads_the_vin_through_the_mcp2515():
    b = Board()
    h = VHost(b)
    m = h.login(P.ROLE_FULL)
    assert m[0] == P.MSG_AUTH_OK, m
    h.open(1, ENGINE)
    r = h.uds(1, b"\x22\xf1\x90")
    assert r[P.K_RESULT] == OK and r[P.K_DATA] == b"\x62\xf1\x90W0L000043MB541326"
    # out: the request (SF) and the flow control; in: FF + 2 CF
    assert [f[0] for f in b.sent] == [0x7E0, 0x7E0]
    assert b.sent[0][2][:4] == b"\x03\x22\xf1\x90" and b.sent[1][2][0] == 0x30
    assert b.can.rx_frames == 3 and b.can.tx_frames == 2
    assert b.can.rx_overflow == 0 and b.can.tx_dropped == 0 and b.loop.tx_failed == 0


def test_raw_frames_from_the_host_go_out_in_order():
    b = Board()
    h = VHost(b)
    assert h.login(P.ROLE_FULL)[0] == P.MSG_AUTH_OK
    for i in range(4):
        h.ok(P.MSG_REQ_CAN_SEND, {P.K_BUS: 0, P.K_ID: 0x7E5, P.K_DATA: bytes([i]) * 8})
    h.run(20000)
    assert [f[2][0] for f in b.sent if f[0] == 0x7E5] == [0, 1, 2, 3]


def test_with_transmit_confirmation_the_loop_collects_the_chips_confirms():
    # send() answers None; each step hands the finished frames' results to
    # the gateway (deliver_confirms), so CAN-TP's N_As runs on the chip's word
    b = Board(tx_confirm=True)
    h = VHost(b)
    assert h.login(P.ROLE_FULL)[0] == P.MSG_AUTH_OK
    h.open(1, ENGINE)
    r = h.uds(1, b"\x22\xf1\x90")
    assert r[P.K_RESULT] == OK and r[P.K_DATA] == b"\x62\xf1\x90W0L000043MB541326"
    assert b.can.tx_frames == 2 and b.loop.tx_failed == 0
    for i in range(3):
        h.ok(P.MSG_REQ_CAN_SEND, {P.K_BUS: 0, P.K_ID: 0x7E5, P.K_DATA: bytes([i]) * 8})
    h.run(20000)
    assert [f[2][0] for f in b.sent if f[0] == 0x7E5] == [0, 1, 2]
