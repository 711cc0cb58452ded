# Shared by the UDS client tests: our server bound to a CAN-TP channel on the
# virtual bus (a tiny ECU runner), scripted misbehaving responders, and a
# tester rig.  Portable (pytest and MicroPython).
from diagbridge.cantp import Channel, TpConfig, Address, ADDR_NORMAL_11, TA_FUNCTIONAL
from diagbridge.cantp.events import EV_RX_DONE, EV_TX_DONE, EV_TX_FAILED
from diagbridge.codes import EV_NONE
from diagbridge.sim.kernel import Kernel
from diagbridge.sim.canbus import CanBus
from diagbridge.sim.cantp_node import CanTpNode
from diagbridge.sim.tester_node import TesterNode
from diagbridge.uds.server.core import UdsServer, EV_RESET
from diagbridge.uds.server.config import UdsServerConfig
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from diagbridge.uds.server.services import session as srv_session
from diagbridge.uds.server.services import security as srv_security
from diagbridge.uds.server.services import data as srv_data
from diagbridge.uds.server.services import memory as srv_memory
from diagbridge.uds.server.services import dtc as srv_dtc
from diagbridge.uds.server.services import routine as srv_routine
from diagbridge.uds.server.services import transfer as srv_transfer
from diagbridge.uds.server.services import roe as srv_roe

ENGINE_SPECS = [srv_session.SPECS, srv_security.SPECS, srv_data.SPECS, srv_memory.SPECS,
                srv_dtc.SPECS, srv_routine.SPECS, srv_transfer.SPECS, srv_roe.SPECS]
FUNC_ID = 0x7DF


def engine_server(cfg=None, **over):
    p = engine.profile()
    for k in over:
        p[k] = over[k]
    st = engine.EngineState()
    prof = Profile(p, sources=engine.sources(st))
    return UdsServer(prof, cfg=cfg, nvm=MemNvm(), specs=ENGINE_SPECS)


class EcuNode:
    """UdsServer <-> CAN-TP channel on the virtual bus; performs ECUReset at once."""

    def __init__(self, kernel, port, srv, channel):
        self.kernel = kernel
        self.srv = srv
        self.ch = channel
        self.out = bytearray(4095)
        self._busy = False
        self._reset = False
        self.resets = 0
        self.tp = CanTpNode(kernel, port, channel, self._on_tp)
        kernel.add_node(self)

    def deadline(self):
        return self.srv.deadline()

    def on_timer(self, now):
        self.srv.on_timer(now)
        self._pump(now)

    def _on_tp(self, now, ev, ch):
        if ev == EV_RX_DONE:
            self.srv.feed_pdu(now, ch.payload, ch.length, ch.ta_type == TA_FUNCTIONAL)
        elif ev == EV_TX_DONE or ev == EV_TX_FAILED:
            self._busy = False
            if self._reset:             # the response is out: reset now
                self._reset = False
                self.resets += 1
                self.srv.reset(now, self.srv.reset_kind)
        self._pump(now)

    def _pump(self, now):
        ev = self.srv.poll()
        while ev != EV_NONE:
            if ev == EV_RESET:
                self._reset = True
            ev = self.srv.poll()
        if not self._busy:
            n = self.srv.pop_pdu(self.out)
            if n:
                self._busy = True
                self.ch.request(now, self.out, n)
                self.tp.kick()


class Scripted:
    """A misbehaving responder: script(now, request bytes) -> list of
    (delay_us, response bytes) sent on its channel."""

    def __init__(self, kernel, port, channel, script):
        self.kernel = kernel
        self.ch = channel
        self.script = script
        self.requests = []
        self._q = []
        self.tp = CanTpNode(kernel, port, channel, self._on_tp)

    def _on_tp(self, now, ev, ch):
        if ev == EV_RX_DONE:
            req = bytes(ch.payload[0:ch.length])
            self.requests.append((self.kernel.elapsed_us, req))
            for delay, rsp in self.script(now, req):
                self.kernel.call_later(delay, self._send, rsp)
        elif ev == EV_TX_DONE or ev == EV_TX_FAILED:
            if self._q:
                self._q.pop(0)
            if self._q:
                self.ch.request(now, self._q[0], len(self._q[0]))
                self.tp.kick()

    def _send(self, now, rsp):
        self._q.append(rsp)
        if len(self._q) == 1:
            self.ch.request(now, rsp, len(rsp))
            self.tp.kick()


def tester_address(i=0, functional=True):
    return Address(ADDR_NORMAL_11, tx_id=0x7E0 + i, rx_id=0x7E8 + i,
                   func_tx_id=FUNC_ID if functional else None)


def ecu_address(i=0):
    return Address(ADDR_NORMAL_11, tx_id=0x7E8 + i, rx_id=0x7E0 + i, func_rx_id=FUNC_ID)


class Rig:
    """A kernel, a 500 kbit/s bus, ECU nodes and one tester node; log of the
    tester's events as (elapsed_us, ev, who).  tp_cfg: every channel's
    TpConfig (default: ISO values; a server's channel advertises the BS and
    STmin of its profile's "cantp")."""

    def __init__(self, machines, ecus, functional=None, bitrate=500000, tp_cfg=None,
                 recorder=None):
        self.k = Kernel()
        self.bus = CanBus(self.k, "can0", bitrate=bitrate, recorder=recorder)
        self.log = []
        self.ecus = []
        for i in range(len(ecus)):
            e = ecus[i]
            port = self.bus.attach("ecu%d" % i)
            ecu_tp = tp_cfg
            if ecu_tp is None:          # a server: the flow control its profile advertises
                tp = e.profile.cantp if isinstance(e, UdsServer) else {}
                ecu_tp = TpConfig(**tp)
            ch = Channel(ecu_tp, ecu_address(i))
            if callable(e) and not isinstance(e, UdsServer):
                self.ecus.append(Scripted(self.k, port, ch, e))
            else:
                self.ecus.append(EcuNode(self.k, port, e, ch))
        chans = [Channel(tp_cfg or TpConfig(), tester_address(i, i == 0))
                 for i in range(len(machines))]
        self.tester = TesterNode(self.k, self.bus.attach("tester"), chans, machines,
                                 functional, 0, self._on_event)

    def _on_event(self, now, ev, who):
        self.log.append((self.k.elapsed_us, ev, who))

    def events(self, who=None):
        return [(t, ev) for t, ev, w in self.log if who is None or w is who]

    def go(self, machine, data, functional=False):
        machine.request(self.k.now, data, len(data), functional)
        self.tester.kick()

    def run_until_done(self, machine, done_ev=2, max_us=30000000):
        mark = len(self.log)
        seen = [mark]

        def finished():
            log = self.log
            for i in range(seen[0], len(log)):
                if log[i][2] is machine and log[i][1] == done_ev:
                    return True
            seen[0] = len(log)
            return False
        assert self.k.run_until(finished, max_us)
        for t, ev, w in self.log[mark:]:
            if w is machine and ev == done_ev:
                return t
        return -1


def hexs(b, n=None):
    if n is None:
        n = len(b)
    return " ".join("%02X" % b[i] for i in range(n))
