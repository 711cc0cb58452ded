# A routing-table entry: a tester on network A reaches an ECU on network B
# (ISO 14229 gateway between the diagnostic link and internal buses).
#
#   tester ─request─▶ [side A: gateway as ECU] ─▶ client ─▶ [side B: gateway
#          ◀─7F SID 78─ (PENDING_MS, then every PERIOD_MS)         as tester] ─▶ ECU
#          ◀─final answer───────────────────────── client ◀────────────────── ECU
#
# Side A and side B are diagnostic endpoints (endpoint.py): only their
# message-level verbs are used, so a K-Line side plugs in unchanged.  One
# request at a time: a second request while one is forwarded is answered
# 7F SID 21 (busyRepeatRequest) on side A.  The far side's own 0x78 answers
# are absorbed by the client (P2*); the tester sees the gateway's cadence.
# A far-side failure (timeout, transport error) answers 7F SID 10
# (generalReject) and raises EV_STATE {WHAT_ROUTE, result, ROUTE}.  A request
# with the suppressPosRspMsgIndicationBit gets no answer unless negative.
from diagbridge._compat import const
from diagbridge.cantp.addr import TA_PHYSICAL
from diagbridge.cantp.events import EV_TX_DONE, EV_TX_FAILED, EV_RX_DONE
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE
from diagbridge.link import proto as P
from diagbridge.uds.client.core import EV_DONE as C_DONE

_NRC_GR = const(0x10)       # generalReject
_NRC_BRR = const(0x21)      # busyRepeatRequest
_NRC_RCRRP = const(0x78)    # requestCorrectlyReceived-ResponsePending


class Route:
    """a: side A (Tester-facing ECU endpoint, its transport), b: side B (a
    endpoint.Tester: transport + client).  Counters: routed, pending_sent,
    busy, failed."""

    def __init__(self, rid, a_bus, a_tp, b, pending_ms, period_ms, max_pdu):
        self.id = rid
        self.a_bus = a_bus
        self.a = a_tp
        self.b = b
        self._pending_us = pending_ms * 1000
        self._period_us = period_ms * 1000
        self._out = bytearray(max_pdu)      # the final answer for side A
        self._out_n = 0
        self._nr = bytearray(3)             # 7F SID 78 / 21: read in place while sent
        self._nr[0] = 0x7F
        self._nr_due = False
        self._nr2 = bytearray(3)            # 7F SID 21 to a second request
        self._nr2[0] = 0x7F
        self._nr2_due = False
        self._a_busy = False
        self._sid = 0
        self._active = False
        self._pend_at = None
        self.result = OK
        self.routed = 0
        self.pending_sent = 0
        self.busy = 0
        self.failed = 0

    # ---- side A: the tester's requests -----------------------------------------
    def on_tp(self, now, ev, tp):
        if ev == EV_TX_DONE or ev == EV_TX_FAILED:
            self._a_busy = False
            return
        if ev != EV_RX_DONE or tp.length < 1:
            return
        sid = tp.payload[0]
        if self._active or self.b.busy():
            self._nr2[1] = sid
            self._nr2[2] = _NRC_BRR
            self._nr2_due = True
            self.busy += 1
            return
        self._sid = sid
        self._active = True
        self.routed += 1
        self._out_n = 0
        self._nr_due = False
        self.b.client.request(now, tp.payload, tp.length)
        self._pend_at = ticks_add(now, self._pending_us)

    # ---- the machine -----------------------------------------------------------------
    def pump(self, now, link):
        """Side B's client events -> side A; then whatever side A can send."""
        c = self.b.client
        ev = c.poll()
        while ev:
            if ev == C_DONE and self._active:
                self._finish(now, link, c)
            ev = c.poll()
        return self._send_a(now)

    def _finish(self, now, link, c):
        self._active = False
        self._pend_at = None
        self._nr_due = False
        out = self._out
        if c.result == OK:
            n = c.length
            for i in range(n):
                out[i] = c.payload[i]
            self._out_n = n             # 0: suppressed positive answer, nothing to send
            return
        out[0] = 0x7F
        out[1] = self._sid
        out[2] = c.nrc if c.result == A_NEGATIVE_RESPONSE else _NRC_GR
        self._out_n = 3
        if c.result != A_NEGATIVE_RESPONSE:
            self.failed += 1
            self.result = c.result
            link.post_event(now, P.MSG_EV_STATE, {P.K_WHAT: P.WHAT_ROUTE,
                                                  P.K_STATE: c.result, P.K_REF: self.id})

    def _send_a(self, now):
        a = self.a
        if self._a_busy or a.tx_busy():
            return False
        if self._out_n:
            n = self._out_n
            if n > a.sf_max() and a.rx_busy() and not a.cfg.full_duplex:
                return False            # half duplex: after the tester's own message
            self._out_n = 0
            self._a_busy = True
            self.a.request(now, self._out, n, TA_PHYSICAL)
            return True
        if self._nr2_due:
            self._nr2_due = False
            self._a_busy = True
            self.a.request(now, self._nr2, 3, TA_PHYSICAL)
            return True
        if self._nr_due:
            self._nr_due = False
            self._a_busy = True
            self.pending_sent += 1
            self.a.request(now, self._nr, 3, TA_PHYSICAL)
            return True
        return False

    def on_timer(self, now):
        self.b.on_timer(now)
        if self._active and due(now, self._pend_at):
            self._nr[1] = self._sid
            self._nr[2] = _NRC_RCRRP
            self._nr_due = True
            self._pend_at = ticks_add(now, self._period_us)

    def deadline(self):
        return earliest(self.b.deadline(), self._pend_at if self._active else None)
