# The simulated vehicle: a kernel, two CAN buses, UDS ECUs built from
# profiles and the gateway (diagbridge.gateway) on both buses, with the
# gateway's host link exposed as a byte-stream pair.  Portable, exact
# virtual timing, never sleeps.
#
#   can0 "diagnostic" 500 kbit/s: engine  (uds/server/profiles/engine.py, 0x7E0/0x7E8)
#                                 gearbox (GEARBOX below,          0x7E1/0x7E9)
#                                 functional 0x7DF
#   can1 "chassis"    500 kbit/s: abs     (ABS below,              0x7E0/0x7E8)
#   gateway on both: bus 0 = can0, bus 1 = can1
#
#   v = Vehicle(sha256, urandom=None, keys=(), open_role=ROLE_NONE, ...)
#   v.link.feed(data)       host -> gateway bytes, delivered at the current instant
#   v.link.read() -> bytes  gateway -> host bytes produced so far
#   p = v.open_link()       another host's connection (host slot 1, 2 ...: up to
#                           GatewayConfig.max_hosts in all, v.link included);
#                           all slots taken: p.refused, p.read() holds the
#                           ERROR "gateway busy: another host ..." (as the
#                           daemon's TCP port says it) and p takes nothing more
#   p.close()               the connection ends: that host is gone
#   v.run_for(us) · v.run_until(pred, max_us) · v.k (the Kernel) · v.buses
#
# A host transport drives it in virtual time (feed, run, read) or in real
# time: feed what arrived, run_for(the real microseconds that passed), read.
# The link itself is ideal (no byte time): the buses carry the timing.
from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS
from diagbridge.codes import L_OK, LINK_UNEXPECTED
from diagbridge.link.cobs import encode_frame, frame_size
from diagbridge.link.msgpack import packb
from diagbridge.link.proto import MSG_ERROR, K_CODE, K_TEXT
from diagbridge.ecu import Ecu
from diagbridge.gateway import Gateway, GatewayConfig
from diagbridge.gateway.loop import GatewayLoop
from diagbridge.link.config import LinkConfig
from diagbridge.link.proto import BUS_CAN, ROLE_NONE
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from diagbridge.sim.canbus import CanBus
from diagbridge.sim.ecu_node import EcuNode
from diagbridge.sim.kernel import Kernel, START_TICKS
from diagbridge.sim.rand import DeterministicRandom

GEARBOX = {
    "name": "gearbox",
    "addresses": {"rx_id": 0x7E1, "tx_id": 0x7E9, "functional_id": 0x7DF},
    "modules": ["session", "data", "obd"],
    "dids": {0xF190: {"length": 17, "value": "W0L000043MB541326"},
             0xF187: {"length": 10, "value": "GBX0001234"},
             0xF18C: {"length": 10, "value": "GBX0000815"}},
    # an OBD-II transmission ECU: answers 7DF as the engine does (ISO 15031-5)
    "obd": {"pids": {0x01: {"value": b"\x00\x00\x00\x00"}, 0x1C: {"value": b"\x06"}},
            "ecu_name": "TCM\x00-TransmissionCtl"},
}

# On the chassis bus, behind the gateway: same ids as the engine, other network.
ABS = {
    "name": "abs",
    "addresses": {"rx_id": 0x7E0, "tx_id": 0x7E8, "functional_id": 0x7DF},
    "modules": ["session", "data"],
    "dids": {0xF190: {"length": 17, "value": "W0L000043MB541326"},
             0xF187: {"length": 10, "value": "ABS0007001"},
             0x0100: {"length": 200, "value": bytes(range(200))}},
}


class LinkPipe:
    """The host side of one connection to the gateway's byte stream, bound
    to host slot `slot` (-1: refused, nothing is delivered)."""

    def __init__(self, node, slot=0):
        self._node = node
        self.slot = slot
        self._rx = bytearray()
        self.fed = 0
        self.sent = 0
        self.closed = slot < 0
        self.refused = slot < 0

    def feed(self, data):
        """Bytes from the host, delivered to the gateway now (dropped once
        the connection is closed or was refused)."""
        if self.closed:
            return
        node = self._node
        self.fed += len(data)
        node.loop.feed_link(node.kernel.now, data, len(data), self.slot)

    def close(self):
        """The connection ends (as a TCP connection does): the gateway's
        host on this slot is gone and the slot is free for the next one."""
        if self.closed:
            return
        self.closed = True
        node = self._node
        node.gw.detach(node.kernel.now, self.slot)
        node.pipes[self.slot] = None
        node.loop.flush(node.kernel.now)

    def read(self):
        """Everything the gateway has sent since the last read()."""
        b = bytes(self._rx)
        self._rx = bytearray()
        return b

    def available(self):
        """Bytes waiting for read()."""
        return len(self._rx)

    def write(self, buf, n):
        self.sent += n
        self._rx.extend(buf[:n])


class _SimCan:
    """A virtual CAN port with the runner body's CAN contract: a frame counts
    as sent when the virtual controller confirms it (on_tx), as on a real bus."""

    def __init__(self, port):
        self.port = port

    def send(self, can_id, buf, n, flags, tag):
        frame = self.port.send(can_id, buf, n, bool(flags & FLAG_EXT), bool(flags & FLAG_FD),
                               bool(flags & FLAG_BRS))
        frame.gw_tag = tag
        return None


class _SlotOut:
    """Host slot i's link port for the runner body: its bytes go to the
    connection on that slot (none: dropped, as a closed socket drops them)."""

    def __init__(self, node, slot):
        self._node = node
        self._slot = slot

    def write(self, buf, n):
        p = self._node.pipes[self._slot]
        if p is not None:
            p.write(buf, n)


class GatewayNode:
    """Binds a Gateway to virtual CAN ports (bus i = ports[i]) and one
    LinkPipe per host slot, through the runner body every platform uses
    (gateway/loop.py).  Slot 0's pipe (link) is always connected."""

    def __init__(self, kernel, gw, ports):
        self.kernel = kernel
        self.gw = gw
        self.ports = tuple(ports)
        self.pipes = [None] * len(gw.hosts)
        self.link = LinkPipe(self, gw.attach())
        self.pipes[0] = self.link
        self.loop = GatewayLoop(gw, [_SimCan(p) for p in self.ports],
                                tuple(_SlotOut(self, i) for i in range(len(gw.hosts))), 1024)
        for b in range(len(self.ports)):
            self.ports[b].on_rx = self._rx_for(b)
            self.ports[b].on_tx = self._on_tx
        kernel.add_node(self)

    def _rx_for(self, bus):
        def on_rx(now, frame):
            flags = FLAG_EXT if frame.extended else 0
            if frame.fd:
                flags |= FLAG_FD | (FLAG_BRS if frame.brs else 0)
            self.loop.feed_can(now, bus, frame.can_id, frame.data, len(frame.data), flags)
        return on_rx

    def _on_tx(self, now, frame, result):
        if self.gw.cfg.tx_confirm:
            self.loop.confirm(now, result == L_OK, frame.gw_tag)
        else:
            self.loop.flush(now)

    def open_link(self):
        """A new host connection on a free slot, or a refused one."""
        slot = self.gw.attach()
        if slot < 0:
            p = LinkPipe(self, -1)
            n = len(self.gw.hosts)
            msg = packb([MSG_ERROR, 0, {K_CODE: LINK_UNEXPECTED,
                                        K_TEXT: "gateway busy: another host is connected on each of "
                                                "the %d host slots" % n}])
            out = bytearray(frame_size(len(msg)))
            p.write(out, encode_frame(msg, len(msg), out))
            return p
        p = LinkPipe(self, slot)
        self.pipes[slot] = p
        return p

    def deadline(self):
        return self.gw.deadline()

    def on_timer(self, now):
        self.loop.on_timer(now)

    def flush(self, now):
        self.loop.flush(now)


class Vehicle:
    """sha256: a hashlib.sha256-like constructor (the host-link HMAC and the
    ECUs' SecurityAccess seeds); urandom: fn(n) -> bytes, the gateway's nonces
    and the ECUs' seed entropy (os.urandom on CPython; default: deterministic
    nonces and no seed entropy, so a run's seeds repeat exactly); keys / open_role /
    link options: LinkConfig; gw_cfg: GatewayConfig (default: 2 buses);
    recorder: a sim Recorder for both buses; ecus: False for empty buses;
    faults: {bus index: fault hook} (a sim.faults.FaultPlan), or set_faults();
    nvm: fn(ecu name) -> NVM store of that ECU (default: a MemNvm each, so
    cleared DTCs and written DIDs survive an ECUReset; the stores are nvms)."""

    def __init__(self, sha256, urandom=None, keys=(), open_role=ROLE_NONE, gw_cfg=None,
                 recorder=None, start=START_TICKS, ecus=True, faults=None, nvm=None,
                 **link_kw):
        k = Kernel(start)
        self.k = k
        self.buses = (CanBus(k, "can0", 500000, recorder=recorder),
                      CanBus(k, "can1", 500000, recorder=recorder))
        self.engine_state = engine.EngineState()
        self.ecus = {}
        self.nvms = {}
        if ecus:
            for name in ("engine", "gearbox", "abs"):
                self.nvms[name] = MemNvm() if nvm is None else nvm(name)
            self.ecus["engine"] = EcuNode(k, self.buses[0].attach("engine"), Ecu(
                Profile(engine.profile(), sources=engine.sources(self.engine_state)),
                nvm=self.nvms["engine"], urandom=urandom, sha256=sha256))
            self.ecus["gearbox"] = EcuNode(k, self.buses[0].attach("gearbox"),
                                           Ecu(GEARBOX, nvm=self.nvms["gearbox"]))
            self.ecus["abs"] = EcuNode(k, self.buses[1].attach("abs"),
                                       Ecu(ABS, nvm=self.nvms["abs"]))
        if gw_cfg is None:
            gw_cfg = GatewayConfig(n_buses=2)
        lcfg = LinkConfig(name=b"diagbridge-sim", keys=keys, open_role=open_role,
                          buses=((0, BUS_CAN, 500000, 0), (1, BUS_CAN, 500000, 0)), **link_kw)
        self.gw = Gateway(gw_cfg, lcfg, sha256, urandom or DeterministicRandom())
        self.node = GatewayNode(k, self.gw, (self.buses[0].attach("gateway"),
                                             self.buses[1].attach("gateway")))
        self.link = self.node.link
        if faults is not None:
            for b in faults:
                self.set_faults(b, faults[b])

    def open_link(self):
        """Another host's connection (see the module comment)."""
        return self.node.open_link()

    def set_faults(self, bus, hook):
        """Install a fault hook on bus 0/1 (None: no faults, no cost)."""
        self.buses[bus].fault = hook

    def ecu(self, name):
        return self.ecus[name].ecu

    def run_for(self, us):
        return self.k.run_for(us)

    def run_until(self, pred, max_us):
        return self.k.run_until(pred, max_us)
