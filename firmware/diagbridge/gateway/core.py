# The gateway: one sans-I/O object that bridges the host link and the
# vehicle's buses.  The same object runs under the CPython daemon, a
# MicroPython main and the simulation (sim/vehicle.py); the adapter only
# carries bytes, frames and time.
#
#   gw = Gateway(cfg, link_cfg, sha256, urandom, trace=None)
#   gw.feed_link(now, data, n)                      bytes from the host
#   gw.feed_can(now, bus, can_id, data, n, flags)   one received frame (CAN_* flags)
#   gw.on_timer(now)                                time passed
#   n = gw.pop_link(out)                            bytes for the host (0: none)
#   n = gw.pop_can(out)                             next frame: tx_bus, tx_id, tx_flags,
#                                                   tx_tag (out: >= 64 bytes)
#   gw.confirm_can(now, ok, tag)                    the controller sent it (or not);
#                                                   cfg.tx_confirm False: never needed
#   gw.deadline()                                   tick of the next on_timer, or None
#
# Inside: the LinkSession authenticates the host and refuses what its role
# may not do (the vehicle never sees a refused request); each authorised
# request goes to its handler (requests.py; body schemas in
# link/proto.py).  Frame-level participants ("nodes") sit on a bus: tester
# endpoints (endpoint.Tester), both sides of routes (route.Route)
# and hosted ECUs (ecu.Ecu).  After every input, _service() moves events:
# link requests -> handlers, transport events -> their owner, client /
# query / flash / route machines -> the transports and RESPONSEs.
#
# Host mistakes: no request raises out of the gateway; each is an ERROR to
# that request (requests.py), and a handler changes nothing until the
# whole body has passed its checks.
#
# Tenancy (tenancy.py): what a host creates belongs to its session.
# When the session ends (EV_LINK_LOST: BYE, silence, a new HELLO) it is all
# torn down: listeners, queued raw frames, functional queries, channels and
# their keep-alives, routes, hosted ECUs, flash jobs not yet started.  A
# flash job already running runs to its end unattended (an ECU must not be
# left half-flashed), then releases its channel; the next host's ids never
# clash with the last one's.
#
# What a host may put on a bus (limits.py): ids per role, a floor on
# keep-alive periods, a transmit rate limit; the handlers check them before
# anything is built, and every frame the host's things send is counted.
# Failed logins back off (login.py) on a link with one peer.
#
# Hot path (raw CAN rx -> EV_CAN_RX, CAN-TP frames): no allocation; every
# table is built in __init__ or by a (non-hot) request.
from diagbridge._compat import const
from diagbridge.clock import ticks_diff, earliest
from diagbridge.codes import OK, L_TX_ERROR
from diagbridge.link import proto as P
from diagbridge.link.session import (LinkSession, EV_REQUEST, EV_LINK_LOST, EV_LINK_UP,
                                     S_READY)
from diagbridge.ecu import EV_ECU_RESET
from diagbridge.gateway.jobs import pump_client, Replies
from diagbridge.gateway.tenancy import Tenancy
from diagbridge.gateway.config import GatewayConfig  # noqa: F401 (the package's face)
from diagbridge.gateway.limits import TxLimits
from diagbridge.gateway.login import LoginBackoff
from diagbridge.gateway import requests

_RAW_FREE = const(0)
_RAW_QUEUED = const(1)
_RAW_SENT = const(2)
_SPINS = const(6)


class Gateway:
    def __init__(self, cfg, link_cfg, sha256, urandom, trace=None):
        self.cfg = cfg
        self.sha256 = sha256                # also for the hosted ECUs' seeds
        self.urandom = urandom
        self.link = LinkSession(link_cfg, sha256, urandom, trace)
        nb = cfg.n_buses
        m = cfg.max_nodes
        f = cfg.max_filters
        r = cfg.raw_tx
        # nodes
        self.node_tp = [None] * m
        self.node_bus = bytearray(m)
        self.node_owner = [None] * m        # on_tp(now, ev, tp) object; None: hosted ECU
        self.node_ref = [0] * m             # hosted ECU: its id
        self._tx_next = 0
        # what the host owns (tenancy.py); its teardown is Tenancy.teardown
        self.tenancy = Tenancy(nb, f)
        self.limits = TxLimits(cfg)
        self.login = LoginBackoff(cfg.login_backoff_ms, cfg.login_backoff_max_ms,
                                  cfg.login_forget_ms)
        self.adapter_stats = None           # () -> {str: int}: the adapter's own counters
        self.replies = Replies(self.link, link_cfg.max_frame)
        self.fq_buf = bytearray(64)
        # raw CAN transmit slots
        self._raw_state = bytearray(r)
        self._raw_bus = bytearray(r)
        self._raw_flags = bytearray(r)
        self._raw_len = bytearray(r)
        self._raw_id = [0] * r
        self._raw_req = [0] * r
        self._raw_seq = [0] * r
        self._raw_data = bytearray(r * 64)
        self._seq = 0
        self.raw_queued = 0
        # counters
        self.rx_frames = [0] * nb
        self.tx_frames = [0] * nb
        self.tx_errors = [0] * nb
        self.listened = [0] * nb
        self.listen_dropped = [0] * nb
        self.requests = 0
        self.uds_requests = 0
        self.handler_faults = 0             # exceptions no handler check foresaw
        self.jobs_unattended = 0            # flash jobs that ended after their host left
        self.jobs_unattended_failed = 0
        self._up_ms = 0
        self._up_rem = 0
        self._last = None
        self.now = 0
        # details of the last pop_can()
        self.tx_bus = 0
        self.tx_id = 0
        self.tx_flags = 0
        self.tx_tag = 0

    @property
    def uptime_ms(self):
        return self._up_ms

    # ---- inputs -------------------------------------------------------------------
    def feed_link(self, now, data, n):
        self._tick(now)
        link = self.link
        lb = self.login
        if lb.waiting(now) and link.state != S_READY:
            lb.refuse(data, n)              # a login in its back-off: not judged
            return
        failures = link.auth_failures
        link.feed_bytes(now, data, n)
        for _ in range(link.auth_failures - failures):
            lb.failed(now)
        self._service(now)

    def feed_can(self, now, bus, can_id, data, n, flags=0):
        self._tick(now)
        if bus < 0 or bus >= self.cfg.n_buses:
            return
        self.rx_frames[bus] += 1
        if self.tenancy.listen[bus] and self._accept(bus, can_id):
            if self.link.post_can_rx(now, now, bus, can_id, flags, data, n):
                self.listened[bus] += 1
            else:
                self.listen_dropped[bus] += 1
        tps = self.node_tp
        nbus = self.node_bus
        for i in range(len(tps)):
            tp = tps[i]
            if tp is not None and nbus[i] == bus:
                tp.feed_frame(now, can_id, data, n, flags)
        self._service(now)

    def on_timer(self, now):
        self._tick(now)
        self.link.on_timer(now)
        self.login.on_timer(now)
        tps = self.node_tp
        for i in range(len(tps)):
            if tps[i] is not None:
                tps[i].on_timer(now)
        for t in self.tenancy.testers:
            t.on_timer(now)
        for t in self.tenancy.orphans:
            t.on_timer(now)
        for r in self.tenancy.routes:
            r.on_timer(now)
        for j in self.tenancy.fq:
            if j is not None:
                j.q.on_timer(now)
        self._service(now)

    def confirm_can(self, now, ok, tag):
        self._tick(now)
        if tag < 0:
            s = -1 - tag
            if s < len(self._raw_state) and self._raw_state[s] == _RAW_SENT:
                self._raw_done(now, s, ok)
        else:
            tp = self.node_tp[tag >> 1] if (tag >> 1) < len(self.node_tp) else None
            if tp is not None:
                tp.confirm(now, ok, tag & 1)
                if not ok:
                    self.tx_errors[self.node_bus[tag >> 1]] += 1
        self._service(now)

    # ---- outputs ------------------------------------------------------------------
    def pop_link(self, out):
        n = self.link.pop_bytes(out)
        return n if n else self.login.pop(out)

    def pop_can(self, out):
        """Next frame for a bus into out (>= 64 bytes); 0 = none."""
        if self.raw_queued:
            n = self._pop_raw(out)
            if n:
                return n
        tps = self.node_tp
        m = len(tps)
        i = self._tx_next
        for _ in range(m):
            tp = tps[i]
            j = i
            i = i + 1 if i + 1 < m else 0
            if tp is None:
                continue
            n = tp.pop_frame(out)
            if n:
                b = self.node_bus[j]
                self.tx_bus = b
                self.tx_id = tp.tx_id
                self.tx_flags = tp.tx_flags
                self.tx_tag = j * 2 + tp.tx_tag
                self._tx_next = i
                orphans = self.tenancy.orphans
                if not orphans or self.node_owner[j] not in orphans:
                    self.limits.charge(self.now)    # (an unattended job is no host's)
                self._sent(b, out, n)
                return n
        return 0

    def deadline(self):
        d = earliest(self.link.deadline(), self.login.deadline())
        tps = self.node_tp
        for i in range(len(tps)):
            if tps[i] is not None:
                d = earliest(d, tps[i].deadline())
        for t in self.tenancy.testers:
            d = earliest(d, t.deadline())
        for t in self.tenancy.orphans:
            d = earliest(d, t.deadline())
        for r in self.tenancy.routes:
            d = earliest(d, r.deadline())
        for j in self.tenancy.fq:
            if j is not None:
                d = earliest(d, j.q.deadline())
        return d

    # ---- node table (used by requests.py and tenancy.py) ---------------------------------------------
    def add_node(self, bus, tp, owner, ref=0):
        for i in range(len(self.node_tp)):
            if self.node_tp[i] is None:
                self.node_tp[i] = tp
                self.node_bus[i] = bus
                self.node_owner[i] = owner
                self.node_ref[i] = ref
                return i
        return -1

    def free_nodes(self):
        k = 0
        for tp in self.node_tp:
            if tp is None:
                k += 1
        return k

    def remove_hosted_ecus(self):
        tps = self.node_tp
        for i in range(len(tps)):
            if tps[i] is not None and self.node_owner[i] is None:
                tps[i] = None

    def remove_node(self, tp):
        for i in range(len(self.node_tp)):
            if self.node_tp[i] is tp:
                self.node_tp[i] = None
                self.node_owner[i] = None

    # ---- raw CAN --------------------------------------------------------------------
    def _accept(self, bus, can_id):
        k = self.tenancy.flt_n[bus]
        if k == 0:
            return True
        base = bus * self.cfg.max_filters
        ids = self.tenancy.flt_id
        masks = self.tenancy.flt_mask
        for j in range(base, base + k):
            m = masks[j]
            if (can_id & m) == (ids[j] & m):
                return True
        return False

    def raw_free(self):
        """A raw transmit slot is free."""
        for s in self._raw_state:
            if s == _RAW_FREE:
                return True
        return False

    def queue_raw(self, req, bus, can_id, flags, data):
        """A REQ_CAN_SEND frame; False when every slot is taken."""
        st = self._raw_state
        for s in range(len(st)):
            if st[s] == _RAW_FREE:
                st[s] = _RAW_QUEUED
                self._raw_bus[s] = bus
                self._raw_id[s] = can_id
                self._raw_flags[s] = flags
                self._raw_len[s] = len(data)
                self._raw_req[s] = req
                self._seq += 1
                self._raw_seq[s] = self._seq
                base = s * 64
                for i in range(len(data)):
                    self._raw_data[base + i] = data[i]
                self.raw_queued += 1
                return True
        return False

    def _pop_raw(self, out):
        st = self._raw_state
        best = -1
        for s in range(len(st)):
            if st[s] == _RAW_QUEUED and (best < 0 or self._raw_seq[s] < self._raw_seq[best]):
                best = s
        if best < 0:
            return 0
        s = best
        n = self._raw_len[s]
        base = s * 64
        for i in range(n):
            out[i] = self._raw_data[base + i]
        self.raw_queued -= 1
        st[s] = _RAW_SENT
        b = self._raw_bus[s]
        self.tx_bus = b
        self.tx_id = self._raw_id[s]
        self.tx_flags = self._raw_flags[s]
        self.tx_tag = -1 - s
        self._sent(b, out, n)
        if not self.cfg.tx_confirm:
            self._raw_done(self.now, s, True)
        return n

    def drop_raw(self):
        """The host left: frames still queued are not sent, and a frame on
        the wire answers nobody."""
        st = self._raw_state
        for s in range(len(st)):
            if st[s] == _RAW_QUEUED:
                st[s] = _RAW_FREE
                self.raw_queued -= 1
            self._raw_req[s] = -1

    def _raw_done(self, now, s, ok):
        self._raw_state[s] = _RAW_FREE
        if not ok:
            self.tx_errors[self._raw_bus[s]] += 1
        if self._raw_req[s] >= 0:
            self.link.respond(now, self._raw_req[s], OK if ok else L_TX_ERROR)

    def _sent(self, bus, out, n):
        self.tx_frames[bus] += 1
        if self.tenancy.echo[bus] and self.tenancy.listen[bus] and self._accept(bus, self.tx_id):
            if self.link.post_can_rx(self.now, self.now, bus, self.tx_id,
                                     self.tx_flags | P.CAN_ECHO, out, n):
                self.listened[bus] += 1
            else:
                self.listen_dropped[bus] += 1

    # ---- the pump -----------------------------------------------------------------------
    def _tick(self, now):
        if self._last is not None:
            d = ticks_diff(now, self._last)
            if d > 0:
                r = self._up_rem + d
                self._up_ms += r // 1000
                self._up_rem = r % 1000
        self._last = now
        self.now = now

    def _service(self, now):
        link = self.link
        rp = self.replies
        for _ in range(_SPINS):
            moved = False
            ev = link.poll()
            while ev:
                if ev == EV_REQUEST:
                    self.requests += 1
                    requests.handle(self, now)
                elif ev == EV_LINK_LOST or ev == EV_LINK_UP:
                    self.tenancy.teardown(now, self)  # (at UP: a session closed without LOST)
                ev = link.poll()
            tps = self.node_tp
            for i in range(len(tps)):
                tp = tps[i]
                if tp is None:
                    continue
                ev = tp.poll()
                while ev:
                    moved = True
                    owner = self.node_owner[i]
                    if owner is not None:
                        owner.on_tp(now, ev, tp)
                    elif ev == EV_ECU_RESET:
                        link.post_event(now, P.MSG_EV_STATE, {P.K_WHAT: P.WHAT_ECU,
                                                              P.K_STATE: 1,
                                                              P.K_REF: self.node_ref[i]})
                    ev = tp.poll()
            for j in self.tenancy.jobs:
                if j.pump(now, rp):
                    if j.orphaned:
                        self.jobs_unattended += 1
                        if j.f.result != OK:
                            self.jobs_unattended_failed += 1
                    self.tenancy.drop_job(j, self)
                    moved = True
                    break
            for t in self.tenancy.testers:
                if t.job is None:
                    pump_client(now, rp, t)
                if t.send_next(now, self.fq_buf):
                    moved = True
            for t in self.tenancy.orphans:
                if t.send_next(now, self.fq_buf):
                    moved = True
            fq = self.tenancy.fq
            for b in range(len(fq)):
                if fq[b] is not None and fq[b].pump(now, rp):
                    fq[b] = None
                    moved = True
            for r in self.tenancy.routes:
                if r.pump(now, link):
                    moved = True
                if r.b.send_next(now, self.fq_buf):
                    moved = True
            if not moved:
                return
