# The gateway: one sans-I/O object that bridges the host links and the
# vehicle's buses.  The same object runs under the CPython daemon, a
# MicroPython main and the simulation (sim/vehicle.py); the adapter only
# carries bytes, frames and time.
#
#   gw = Gateway(cfg, link_cfg, sha256, urandom, trace=None)
#   slot = gw.attach()                              a connection takes a free host
#                                                   slot (-1: all cfg.max_hosts taken)
#   gw.detach(now, slot)                            ... and left: the slot's host is gone
#   gw.feed_link(now, data, n, slot=0)              bytes from that slot's host
#   gw.feed_can(now, bus, can_id, data, n, flags)   one received frame (CAN_* flags)
#   gw.on_timer(now)                                time passed
#   n = gw.pop_link(out, slot=0)                    bytes for that slot's host (0: none)
#   n = gw.pop_can(out)                             next frame: tx_bus, tx_id, tx_flags,
#                                                   tx_tag (out: >= 64 bytes)
#   gw.confirm_can(now, ok, tag)                    the controller sent it (or not);
#                                                   cfg.tx_confirm False: never needed
#   gw.deadline()                                   tick of the next on_timer, or None
#
# Several hosts at once (hosts.py): gw.hosts[i] is host slot i, each with
# its own LinkSession (.link), Tenancy (.tenancy), Replies, transmit budget
# (.limits), login back-off (.login) and counters; gw.link, gw.tenancy,
# gw.limits, gw.login and gw.replies are slot 0's.  A slot's LinkSession
# authenticates its host and refuses what its role may not do (the vehicle
# never sees a refused request); each authorised request goes to its
# handler with the slot (requests.py; body schemas in link/proto.py), so
# the answer and whatever the request makes belong to that host.
# Frame-level participants ("nodes") sit on a bus: tester endpoints
# (endpoint.Tester), both sides of routes (route.Route) and hosted ECUs
# (ecu.Ecu); each node remembers the slot that made it (node_slot), so its
# events, its frames' transmit budget and its teardown are that host's.
# After every input, _service() moves events: link requests -> handlers,
# transport events -> their owner, client / query / flash / route machines
# -> the transports and RESPONSEs, per slot.
#
# Raw CAN is fanned out: a received frame (and, with ECHO, a sent one) is
# posted to every slot listening on its bus with a matching filter.  A host
# whose event queue is full loses that event alone (counted in its slot's
# listen_dropped and its LinkSession's drop counters, reported to it by its
# EV_DROPPED); the other hosts are not held back.  BUS_STATS "listened" /
# "listen_dropped" count posts and drops over all hosts.
#
# Host mistakes: no request raises out of the gateway; each is an ERROR to
# that request (requests.py), and a handler changes nothing until the
# whole body has passed its checks.
#
# Tenancy (tenancy.py): what a host creates belongs to its slot's session.
# When the session ends (EV_LINK_LOST: BYE, silence, a bad MAC, a new HELLO,
# the adapter's detach) that slot's things are torn down, and only those:
# listeners, queued raw frames, functional queries, channels and their
# keep-alives, routes, hosted ECUs, flash jobs not yet started, its bus
# locks.  A flash job already running runs to its end unattended (an ECU
# must not be left half-flashed), then releases its channel.
#
# What a host may put on a bus (limits.py): ids per role, a floor on
# keep-alive periods, a transmit rate limit per slot; the handlers check
# them (and the bus locks) before anything is built, and every frame the
# host's things send is counted against its slot.  Failed logins back off
# (login.py) on a link with one peer, per slot.
#
# Hot path (raw CAN rx -> EV_CAN_RX per listening host, CAN-TP frames): no
# allocation; every table is built in __init__ or by a (non-hot) request.
from diagbridge._compat import const
from diagbridge.clock import ticks_diff, earliest
from diagbridge.codes import OK, L_TX_ERROR
from diagbridge.errors import UsageError
from diagbridge.link import proto as P
from diagbridge.link.session import EV_REQUEST, EV_LINK_LOST, EV_LINK_UP, S_READY, S_WAIT_HELLO
from diagbridge.ecu import EV_ECU_RESET
from diagbridge.gateway.jobs import pump_client
from diagbridge.gateway.config import GatewayConfig  # noqa: F401 (the package's face)
from diagbridge.gateway.hosts import HostSlot, BusLocks
from diagbridge.gateway.raw import RawSlots
from diagbridge.gateway import requests

_SPINS = const(6)


class Gateway:
    def __init__(self, cfg, link_cfg, sha256, urandom, trace=None):
        self.cfg = cfg
        self.sha256 = sha256                # also for the hosted ECUs' seeds
        self.urandom = urandom
        nb = cfg.n_buses
        m = cfg.max_nodes
        # host slots (hosts.py): each its own session, tenancy, budget, buffers
        self.hosts = [HostSlot(i, cfg, link_cfg, sha256, urandom, trace)
                      for i in range(cfg.max_hosts)]
        self.locks = BusLocks(nb)
        # nodes
        self.node_tp = [None] * m
        self.node_bus = bytearray(m)
        self.node_slot = bytearray(m)       # the host slot that made it
        self.node_owner = [None] * m        # on_tp(now, ev, tp) object; None: hosted ECU
        self.node_ref = [0] * m             # hosted ECU: its id
        self._tx_next = 0
        self.adapter_stats = None           # () -> {str: int}: the adapter's own counters
        self.fq_buf = bytearray(64)
        self.raw = RawSlots(cfg.raw_tx)     # raw CAN transmit slots (raw.py)
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

    # slot 0's parts, the gateway's only host before there were several
    @property
    def link(self):
        return self.hosts[0].link

    @property
    def tenancy(self):
        return self.hosts[0].tenancy

    @property
    def limits(self):
        return self.hosts[0].limits

    @property
    def login(self):
        return self.hosts[0].login

    @property
    def replies(self):
        return self.hosts[0].replies

    @property
    def uptime_ms(self):
        return self._up_ms

    # ---- host slots ---------------------------------------------------------------
    def attach(self):
        """Bind a new connection to a free host slot: its index, or -1 when
        all cfg.max_hosts slots have a connection."""
        for s in self.hosts:
            if not s.attached:
                s.attached = True
                return s.index
        return -1

    def detach(self, now, slot):
        """The connection on `slot` is gone: its host is too (as at a BYE),
        what it made is torn down, and the slot is free again."""
        self.hosts[slot].attached = False
        self.hang_up(now, slot)

    def hang_up(self, now, slot):
        """The host on `slot` is gone (as at a BYE) but its link stays, as a
        serial line does: the slot is kept for the next host on it."""
        s = self.hosts[slot]
        self._tick(now)
        if s.link.state != S_WAIT_HELLO:
            s.link.hang_up(now)
        self._service(now)

    def hosts_up(self):
        k = 0
        for s in self.hosts:
            if s.link.state == S_READY:
                k += 1
        return k

    # ---- inputs -------------------------------------------------------------------
    def feed_link(self, now, data, n, slot=0):
        self._tick(now)
        if slot < 0 or slot >= len(self.hosts):
            raise UsageError("no host slot %d" % slot)
        s = self.hosts[slot]
        link = s.link
        lb = s.login
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
        self._fan_out(now, bus, can_id, flags, data, n, False)
        tps = self.node_tp
        nbus = self.node_bus
        for i in range(len(tps)):
            tp = tps[i]
            if tp is not None and nbus[i] == bus:
                tp.feed_frame(now, can_id, data, n, flags)
        self._service(now)

    def on_timer(self, now):
        self._tick(now)
        for s in self.hosts:
            s.link.on_timer(now)
            s.login.on_timer(now)
        tps = self.node_tp
        for i in range(len(tps)):
            if tps[i] is not None:
                tps[i].on_timer(now)
        for s in self.hosts:
            ten = s.tenancy
            for t in ten.testers:
                t.on_timer(now)
            for t in ten.orphans:
                t.on_timer(now)
            for r in ten.routes:
                r.on_timer(now)
            for j in ten.fq:
                if j is not None:
                    j.q.on_timer(now)
        self._service(now)

    def confirm_can(self, now, ok, tag):
        self._tick(now)
        if tag < 0:
            s = -1 - tag
            if self.raw.sent(s):
                self._raw_done(now, s, ok)
        else:
            tp = self.node_tp[tag >> 1] if (tag >> 1) < len(self.node_tp) else None
            if tp is not None:
                tp.confirm(now, ok, tag & 1)
                if not ok:
                    self.tx_errors[self.node_bus[tag >> 1]] += 1
        self._service(now)

    # ---- outputs ------------------------------------------------------------------
    def pop_link(self, out, slot=0):
        s = self.hosts[slot]
        n = s.link.pop_bytes(out)
        return n if n else s.login.pop(out)

    def pop_can(self, out):
        """Next frame for a bus into out (>= 64 bytes); 0 = none."""
        if self.raw.queued:
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
                s = self.hosts[self.node_slot[j]]
                orphans = s.tenancy.orphans
                if not orphans or self.node_owner[j] not in orphans:
                    s.limits.charge(self.now)       # (an unattended job is no host's)
                self._sent(b, out, n)
                return n
        return 0

    def deadline(self):
        d = None
        for s in self.hosts:
            d = earliest(d, earliest(s.link.deadline(), s.login.deadline()))
        tps = self.node_tp
        for i in range(len(tps)):
            if tps[i] is not None:
                d = earliest(d, tps[i].deadline())
        for s in self.hosts:
            ten = s.tenancy
            for t in ten.testers:
                d = earliest(d, t.deadline())
            for t in ten.orphans:
                d = earliest(d, t.deadline())
            for r in ten.routes:
                d = earliest(d, r.deadline())
            for j in ten.fq:
                if j is not None:
                    d = earliest(d, j.q.deadline())
        return d

    # ---- node table (used by requests.py and tenancy.py) ---------------------------------------------
    def add_node(self, bus, tp, owner, ref=0, slot=0):
        for i in range(len(self.node_tp)):
            if self.node_tp[i] is None:
                self.node_tp[i] = tp
                self.node_bus[i] = bus
                self.node_slot[i] = slot
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

    def remove_hosted_ecus(self, slot=0):
        tps = self.node_tp
        for i in range(len(tps)):
            if tps[i] is not None and self.node_owner[i] is None and self.node_slot[i] == slot:
                tps[i] = None

    def remove_node(self, tp):
        for i in range(len(self.node_tp)):
            if self.node_tp[i] is tp:
                self.node_tp[i] = None
                self.node_owner[i] = None

    # ---- raw CAN --------------------------------------------------------------------
    def _fan_out(self, now, bus, can_id, flags, data, n, echo):
        """EV_CAN_RX to every slot listening on bus (echo: to those that asked
        for their own transmissions too); a full queue drops for that host only."""
        for s in self.hosts:
            r = s.offer_can(now, bus, can_id, flags, data, n, echo)
            if r > 0:
                self.listened[bus] += 1
            elif r < 0:
                self.listen_dropped[bus] += 1

    @property
    def raw_queued(self):
        return self.raw.queued

    def raw_free(self):
        """A raw transmit slot is free."""
        return self.raw.free()

    def queue_raw(self, req, bus, can_id, flags, data, slot=0):
        """A REQ_CAN_SEND frame of host `slot`; False when every slot is taken."""
        return self.raw.queue(req, bus, can_id, flags, data, slot)

    def _pop_raw(self, out):
        raw = self.raw
        s = raw.pop(out)
        if s < 0:
            return 0
        n = raw.length[s]
        b = raw.bus[s]
        self.tx_bus = b
        self.tx_id = raw.can_id[s]
        self.tx_flags = raw.flags[s]
        self.tx_tag = -1 - s
        self._sent(b, out, n)
        if not self.cfg.tx_confirm:
            self._raw_done(self.now, s, True)
        return n

    def drop_raw(self, slot=0):
        """Host `slot` left: its frames still queued are not sent, and its
        frame on the wire answers nobody."""
        self.raw.drop(slot)

    def _raw_done(self, now, s, ok):
        raw = self.raw
        raw.done(s)
        if not ok:
            self.tx_errors[raw.bus[s]] += 1
        if raw.req[s] >= 0:
            self.hosts[raw.host[s]].link.respond(now, raw.req[s], OK if ok else L_TX_ERROR)

    def _sent(self, bus, out, n):
        self.tx_frames[bus] += 1
        self._fan_out(self.now, bus, self.tx_id, self.tx_flags | P.CAN_ECHO, out, n, True)

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
        hosts = self.hosts
        for _ in range(_SPINS):
            moved = False
            for s in hosts:
                link = s.link
                ev = link.poll()
                while ev:
                    if ev == EV_REQUEST:
                        self.requests += 1
                        requests.handle(self, s, now)
                    elif ev == EV_LINK_LOST or ev == EV_LINK_UP:
                        # (at UP: a session closed without LOST)
                        s.tenancy.teardown(now, self, s)
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
                        hosts[self.node_slot[i]].link.post_event(
                            now, P.MSG_EV_STATE, {P.K_WHAT: P.WHAT_ECU, P.K_STATE: 1,
                                                  P.K_REF: self.node_ref[i]})
                    ev = tp.poll()
            for s in hosts:
                if self._service_slot(now, s):
                    moved = True
            if not moved:
                return

    def _service_slot(self, now, s):
        ten = s.tenancy
        rp = s.replies
        moved = False
        for j in ten.jobs:
            if j.pump(now, rp):
                if j.orphaned:
                    self.jobs_unattended += 1
                    if j.f.result != OK:
                        self.jobs_unattended_failed += 1
                ten.drop_job(j, self)
                moved = True
                break
        for t in ten.testers:
            if t.job is None:
                pump_client(now, rp, t)
            if t.send_next(now, self.fq_buf):
                moved = True
        for t in ten.orphans:
            if t.send_next(now, self.fq_buf):
                moved = True
        fq = ten.fq
        for b in range(len(fq)):
            if fq[b] is not None and fq[b].pump(now, rp):
                fq[b] = None
                moved = True
        for r in ten.routes:
            if r.pump(now, s.link):
                moved = True
            if r.b.send_next(now, self.fq_buf):
                moved = True
        return moved
