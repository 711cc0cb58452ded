# Several hosts on one gateway: one HostSlot per host the gateway can serve
# at once (GatewayConfig.max_hosts), and the exclusive bus locks.
#
# A slot is everything one host's link needs, allocated once when the
# gateway is built: its LinkSession (its own frame buffers, outbound queue,
# credits and drop counters), its Tenancy (what the host made: listeners,
# channels, routes, hosted ECUs, jobs), its Replies, its transmit budget
# (TxLimits: the token bucket is per slot, so one host's raw frames never
# spend another's), its failed-login back-off (a board's UART is one slot
# with one peer) and its own counters of raw CAN events posted and dropped.
# An adapter binds a connection to a slot (attach / detach in core.py); bytes
# go in with feed_link(now, data, n, slot) and come out with
# pop_link(out, slot).  Nothing one slot does touches another's tables:
# a slot's teardown (BYE, silence, a bad MAC, the connection gone) removes
# only its things.
#
# Memory: a slot is mostly its LinkSession's buffers, which grow with the
# LinkConfig (max_frame, the event queue, the reassembly buffer).  Measured
# on the 64-bit MicroPython unix port (gc.mem_alloc() around the
# constructor): a LinkSession at the default LinkConfig (max_frame 1024, 64
# queued events, 4 request credits) 23.5 KB, 14 KB with max_frame 512 and 32
# events; a Tenancy on two buses 1.1 KB, TxLimits and LoginBackoff 0.6 KB;
# with the link layer's message reassembly the session is 48 KB and a whole
# slot 54 KB.  A board's heap is 100-200 KB, so GatewayConfig.max_hosts
# defaults to 1 (a board with one UART has one link, hence one slot; a board
# with a second link port, USB CDC beside the UART, sets 2 and a smaller
# LinkConfig); the CPython daemon's boards default to 4 TCP hosts
# (cpy/gateway/config.py) plus one slot for a serial line.
#
# Bus locks (REQ_BUS_LOCK {BUS, ON}, the full role): while a host holds bus
# b, every other host's new transmissions on b are refused before anything
# is built (raw frames, new channels and UDS requests or flash jobs on b,
# routes and hosted ECUs with a side on b, keep-alives switched on there):
# ERROR LINK_REFUSED "bus b is locked by host <name> for flashing".  Their
# listeners go on receiving; keep-alives already running go on (stopping a
# TesterPresent would end another ECU's session).  Every other connected
# host gets EV_STATE {WHAT: WHAT_BUS_LOCK, STATE: 1, REF: b, NAME: holder}
# when the lock is taken and STATE 0 when it ends: released by its holder,
# or the holder gone (its slot's teardown).
#
#   s = HostSlot(index, cfg, link_cfg, sha256, urandom, trace)
#   s.name              "host <index>" until the adapter names it (a TCP peer)
#   s.up()              an authenticated host is on this slot
#   locks = BusLocks(n_buses)
#   locks.holder[b]     slot index holding bus b, -1: none
#   locks.check(gw, slot, bus)   Refused when another slot holds bus
from diagbridge.link.session import LinkSession, S_READY
from diagbridge.gateway.jobs import Replies
from diagbridge.gateway.limits import TxLimits, Refused, role_name
from diagbridge.gateway.login import LoginBackoff
from diagbridge.gateway.tenancy import Tenancy
from diagbridge.link import proto as P


class HostSlot:
    """One host's place on the gateway (see the module comment)."""

    def __init__(self, index, cfg, link_cfg, sha256, urandom, trace=None):
        self.index = index
        self.name = "host %d" % index
        self.link = LinkSession(link_cfg, sha256, urandom, trace)
        self.tenancy = Tenancy(cfg.n_buses, cfg.max_filters)
        self._max_filters = cfg.max_filters
        self.replies = Replies(self.link, link_cfg.max_frame)
        self.limits = TxLimits(cfg)
        self.login = LoginBackoff(cfg.login_backoff_ms, cfg.login_backoff_max_ms,
                                  cfg.login_forget_ms)
        self.attached = False               # an adapter's connection is bound to it
        self.listened = 0                   # EV_CAN_RX posted to this host
        self.listen_dropped = 0             # ... and dropped (its queue was full)

    def up(self):
        return self.link.state == S_READY

    def offer_can(self, now, bus, can_id, flags, data, n, echo):
        """A frame seen on bus (echo: one the gateway sent): EV_CAN_RX if this
        host listens there (and, for an echo, asked for its own frames) and
        a filter matches.  1: posted, -1: dropped (its queue is full, counted
        here and in its LinkSession), 0: not for this host.  Allocation-free."""
        ten = self.tenancy
        if not ten.listen[bus] or (echo and not ten.echo[bus]):
            return 0
        k = ten.flt_n[bus]
        if k:
            base = bus * self._max_filters
            ids = ten.flt_id
            masks = ten.flt_mask
            hit = False
            for j in range(base, base + k):
                m = masks[j]
                if (can_id & m) == (ids[j] & m):
                    hit = True
                    break
            if not hit:
                return 0
        if self.link.post_can_rx(now, now, bus, can_id, flags, data, n):
            self.listened += 1
            return 1
        self.listen_dropped += 1
        return -1

    def info(self, locks):
        """This host's line in STATUS HOSTS."""
        link = self.link
        dropped = 0
        for k in link.dropped:
            dropped += k
        held = []
        for b in range(len(locks.holder)):
            if locks.holder[b] == self.index:
                held.append(b)
        return {"slot": self.index, "name": self.name, "role": link.role,
                "role_name": role_name(link.role), "event_credits": link.event_credits,
                "events_dropped": dropped, "listened": self.listened,
                "listen_dropped": self.listen_dropped,
                "channels": len(self.tenancy.testers), "locks": held}


class BusLocks:
    def __init__(self, n_buses):
        self.holder = [-1] * n_buses

    def check(self, gw, slot, bus):
        h = self.holder[bus]
        if h >= 0 and h != slot.index:
            raise Refused("bus %d is locked by host %s for flashing" % (bus, gw.hosts[h].name))

    def take(self, now, gw, slot, bus):
        """The lock for slot; Refused while another host holds it."""
        self.check(gw, slot, bus)
        if self.holder[bus] == slot.index:
            return
        self.holder[bus] = slot.index
        self._tell(now, gw, slot, bus, 1)

    def release(self, now, gw, slot, bus):
        """False: slot did not hold bus."""
        if self.holder[bus] != slot.index:
            return False
        self.holder[bus] = -1
        self._tell(now, gw, slot, bus, 0)
        return True

    def release_all(self, now, gw, slot):
        for b in range(len(self.holder)):
            self.release(now, gw, slot, b)

    def _tell(self, now, gw, slot, bus, state):
        for s in gw.hosts:
            if s is not slot and s.up():
                s.link.post_event(now, P.MSG_EV_STATE, {P.K_WHAT: P.WHAT_BUS_LOCK,
                                                        P.K_STATE: state, P.K_REF: bus,
                                                        P.K_NAME: slot.name})
