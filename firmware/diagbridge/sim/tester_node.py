# Binds tester machines (uds.client.UdsClient, uds.flash.Flasher: anything
# with the client verbs) and an optional uds.functional.FunctionalQuery to
# CAN-TP channels on the virtual bus: the simulation's tester runner, as thin
# as the CPython facade.
#
#   node = TesterNode(kernel, port, channels, machines, functional=None,
#                     on_event=None)
#     channels[i]   cantp Channel of ECU i (physical; channel func_index also
#                   carries the functional request: give it a func_tx_id)
#     machines[i]   the client-like machine of ECU i, or None
#   on_event(now, ev, who): who = the machine (or the query) that raised ev
#
# Wiring: EV_TX_DONE/EV_TX_FAILED -> sent(); EV_RX_FF -> rx_started();
# EV_RX_DONE -> feed_pdu(); EV_RX_FAILED -> rx_failed().  An answer on
# channel i goes to machine i while it has a request outstanding, else to
# the functional query while it collects (or when there is no machine i:
# the query counts it as late), else to machine i (which reports it as
# unexpected).
from diagbridge.cantp.addr import TA_FUNCTIONAL, TA_PHYSICAL
from diagbridge.cantp.events import EV_TX_DONE, EV_TX_FAILED, EV_RX_FF, EV_RX_DONE, EV_RX_FAILED
from diagbridge.cantp.mux import Mux
from diagbridge.clock import earliest
from diagbridge.codes import OK
from diagbridge.sim.cantp_node import CanTpNode


class TesterNode:
    def __init__(self, kernel, port, channels, machines, functional=None, func_index=0,
                 on_event=None):
        self.kernel = kernel
        self.channels = tuple(channels)
        self.machines = tuple(machines)
        self.functional = functional
        self.func_index = func_index
        self.on_event = on_event
        self._bufs = [bytearray(len(m.tx) if m is not None else 8) for m in self.machines]
        self._fbuf = bytearray(64)
        self._owner = [None] * len(self.channels)   # who the transfer in flight belongs to
        self.tp = CanTpNode(kernel, port, Mux(self.channels), self._on_tp)
        kernel.add_node(self)
        kernel.call_later(0, self._pump_all)

    # ---- kernel node ----------------------------------------------------------
    def deadline(self):
        d = None
        for m in self.machines:
            if m is not None:
                d = earliest(d, m.deadline())
        if self.functional is not None:
            d = earliest(d, self.functional.deadline())
        return d

    def on_timer(self, now):
        for m in self.machines:
            if m is not None:
                m.on_timer(now)
        if self.functional is not None:
            self.functional.on_timer(now)
        self._pump_all(now)

    # ---- application ----------------------------------------------------------
    def kick(self):
        """Call after a request() on a machine from outside a kernel callback."""
        self.kernel.call_later(0, self._pump_all)

    # ---- CAN-TP events ----------------------------------------------------------
    def _on_tp(self, now, ev, ch):
        i = self.channels.index(ch)
        m = self.machines[i]
        q = self.functional
        if ev == EV_TX_DONE or ev == EV_TX_FAILED:
            who = self._owner[i]
            self._owner[i] = None
            if who is not None:
                who.sent(now, OK if ev == EV_TX_DONE else ch.result)
        else:
            target = m
            if q is not None and (m is None or (not m.busy() and q.collecting())):
                target = q
            if target is None:
                return
            if target is q:
                if ev == EV_RX_DONE:
                    q.feed_pdu(now, i, ch.payload, ch.length)
                elif ev == EV_RX_FF:
                    q.rx_started(now, i)
                elif ev == EV_RX_FAILED:
                    q.rx_failed(now, i, ch.result)
            elif ev == EV_RX_DONE:
                target.feed_pdu(now, ch.payload, ch.length)
            elif ev == EV_RX_FF:
                target.rx_started(now)
            elif ev == EV_RX_FAILED:
                target.rx_failed(now, ch.result)
        self._pump_all(now)

    def _pump_all(self, now, _arg=None):
        # twice: an on_event handler may queue a request on an earlier machine
        a = self._pump(now)
        if self._pump(now) or a:
            self.tp.kick()

    def _pump(self, now):
        sent = False
        q = self.functional
        for i in range(len(self.machines)):
            m = self.machines[i]
            if m is not None:
                ev = m.poll()
                while ev:
                    if self.on_event is not None:
                        self.on_event(now, ev, m)
                    ev = m.poll()
                if self._owner[i] is None and not self.channels[i].tx_busy():
                    n = m.pop_pdu(self._bufs[i])
                    if n:
                        self._owner[i] = m
                        self.channels[i].request(now, self._bufs[i], n,
                                                 TA_FUNCTIONAL if m.tx_functional
                                                 else TA_PHYSICAL)
                        sent = True
        if q is not None:
            ev = q.poll()
            while ev:
                if self.on_event is not None:
                    self.on_event(now, ev, q)
                ev = q.poll()
            fi = self.func_index
            if self._owner[fi] is None and not self.channels[fi].tx_busy():
                n = q.pop_pdu(self._fbuf)
                if n:
                    self._owner[fi] = q
                    self.channels[fi].request(now, self._fbuf, n, TA_FUNCTIONAL)
                    sent = True
        return sent
