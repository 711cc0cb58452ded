# The runner body of ARCHITECTURE.md section 6, written once.  The MicroPython
# board (mpy/runner.py), the CPython daemon (cpy/gateway/runner.py) and the
# simulation (sim/vehicle.py) all drive their Gateway through this object;
# only the ports and the waiting differ.  Imports only the core, so the same
# body runs in tests/core under real MicroPython.
#
#   loop = GatewayLoop(gw, cans, link, link_buf=512)
#     link: one link port (host slot 0), or a tuple of them: port i carries
#     host slot i (gw.hosts[i]); slots without a port are not flushed
#   event-driven ports (the daemon, the simulation) call the input that came:
#     loop.feed_can(now, bus, can_id, data, n, flags)   one received frame
#     loop.feed_link(now, data, n, slot=0)              bytes from slot's host
#     loop.on_timer(now)                                time passed
#     loop.confirm(now, ok, tag)                        a deferred send ended
#   polled ports (a board) call one step that reads them all:
#     d = loop.step(now)                                -> gw.deadline()
#   each input flushes: frames to their bus, bytes to the host.
#
# Port contracts (a board's drivers, python-can buses, sim ports):
#   CAN   r = can.send(can_id, buf, n, flags, tag)   one frame (flags: diagbridge.can FLAG_*)
#             True: accepted (counts as sent now); False: failed now;
#             None: the port calls loop.confirm(now, ok, tag) when it ends
#         n = can.recv(buf)       polled ports only: next frame into buf (>= 64
#                                 bytes), its length, with can.rx_id and
#                                 can.rx_flags; -1 = none
#         can.deliver_confirms(now, loop)   polled ports that answer None to
#                                 send: each step calls it, the port calls
#                                 loop.confirm(now, ok, tag) per finished frame
#   link  link.write(buf, n)      bytes for the host of this port's slot
#         n = link.readinto(buf)  polled ports only: host bytes (0 = none)
#   A board runner has one link port per UART (one UART = one host slot);
#   the daemon's LinkHub hands one port object per slot.
# Allocation-free per frame and per byte: every buffer is made here.
from diagbridge._compat import const
from diagbridge.errors import ConfigError

_BATCH = const(32)          # frames per bus per step, so the link keeps flowing


class GatewayLoop:
    def __init__(self, gw, cans, link, link_buf=512):
        self.gw = gw
        self.cans = tuple(cans)
        # the polled ports that confirm their frames later (a controller's TX buffers)
        self._confirmers = tuple(c for c in self.cans if hasattr(c, "deliver_confirms"))
        self.links = tuple(link) if isinstance(link, (tuple, list)) else (link,)
        if len(self.links) > len(gw.hosts):
            raise ConfigError("link ports: %d for %d host slots (GatewayConfig.max_hosts)"
                              % (len(self.links), len(gw.hosts)))
        self.link = self.links[0]
        self._rx = bytearray(64)
        self._tx = bytearray(64)
        self._lin = bytearray(link_buf)
        self._lout = bytearray(link_buf)
        self.frames_in = 0
        self.frames_out = 0
        self.tx_failed = 0

    # ---- event-driven inputs ----------------------------------------------------------
    def feed_can(self, now, bus, can_id, data, n, flags):
        self.frames_in += 1
        self.gw.feed_can(now, bus, can_id, data, n, flags)
        self.flush(now)

    def feed_link(self, now, data, n, slot=0):
        self.gw.feed_link(now, data, n, slot)
        self.flush(now)

    def on_timer(self, now):
        self.gw.on_timer(now)
        self.flush(now)

    def confirm(self, now, ok, tag):
        if not ok:
            self.tx_failed += 1
        self.gw.confirm_can(now, ok, tag)
        self.flush(now)

    # ---- polled ports -------------------------------------------------------------------
    def step(self, now):
        rx = self._rx
        for c in self._confirmers:
            c.deliver_confirms(now, self)
        for b in range(len(self.cans)):
            can = self.cans[b]
            k = 0
            while k < _BATCH:
                n = can.recv(rx)
                if n < 0:
                    break
                k += 1
                self.feed_can(now, b, can.rx_id, rx, n, can.rx_flags)
        links = self.links
        for s in range(len(links)):
            n = links[s].readinto(self._lin)
            while n:
                self.feed_link(now, self._lin, n, s)
                n = links[s].readinto(self._lin)
        self.on_timer(now)
        return self.gw.deadline()

    # ---- outputs --------------------------------------------------------------------------
    def flush(self, now):
        gw = self.gw
        tx = self._tx
        confirm = gw.cfg.tx_confirm
        n = gw.pop_can(tx)
        while n:
            b = gw.tx_bus
            tag = gw.tx_tag
            r = self.cans[b].send(gw.tx_id, tx, n, gw.tx_flags, tag) if b < len(self.cans) else False
            if r is None:
                self.frames_out += 1        # on its way; the port confirms it
            else:
                if r:
                    self.frames_out += 1
                else:
                    self.tx_failed += 1
                if confirm:
                    gw.confirm_can(now, r, tag)
            n = gw.pop_can(tx)
        out = self._lout
        links = self.links
        for s in range(len(links)):
            n = gw.pop_link(out, s)
            while n:
                links[s].write(out, n)
                n = gw.pop_link(out, s)
