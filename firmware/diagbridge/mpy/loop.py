# The runner body of ARCHITECTURE.md section 6 for a MicroPython board: one
# step feeds what the CAN controllers and the host link received into the
# portable Gateway, runs its timers and sends what it popped.  The waiting
# (asyncio) is runner.py's; this module imports only the core, so the same
# step runs in tests/core under real MicroPython with simulated ports.
#
#   loop = GatewayLoop(gw, cans, link)
#   d = loop.step(now)          # -> gw.deadline()
#
# Port contracts (a board's drivers, or sim ports in tests):
#   CAN   n = can.recv(buf)     next received frame into buf (>= 64 bytes):
#                               its length, with can.rx_id and can.rx_flags
#                               (diagbridge.cantp.addr FLAG_*); -1 = none
#         ok = can.send(can_id, buf, n, flags)   queue one frame; False = failed
#   link  n = link.readinto(buf)                 host bytes received (0 = none)
#         link.write(buf, n)                     bytes for the host
# A frame counts as sent when can.send accepted it (confirm_can right away).
# Allocation-free per frame and per byte: every buffer is made here.
from diagbridge._compat import const

_BATCH = const(32)          # frames per bus per step, so the link keeps flowing


class GatewayLoop:
    def __init__(self, gw, cans, link, link_buf=512):
        self.gw = gw
        self.cans = tuple(cans)
        self.link = link
        self._rx = bytearray(64)
        self._tx = bytearray(64)
        self._lin = bytearray(link_buf)
        self._lout = bytearray(link_buf)
        self.frames_in = 0
        self.frames_out = 0
        self.tx_failed = 0

    def step(self, now):
        gw = self.gw
        rx = self._rx
        for b in range(len(self.cans)):
            can = self.cans[b]
            k = 0
            while k < _BATCH:
                n = can.recv(rx)
                if n < 0:
                    break
                k += 1
                self.frames_in += 1
                gw.feed_can(now, b, can.rx_id, rx, n, can.rx_flags)
                self._flush(now)
        n = self.link.readinto(self._lin)
        while n:
            gw.feed_link(now, self._lin, n)
            self._flush(now)
            n = self.link.readinto(self._lin)
        gw.on_timer(now)
        self._flush(now)
        return gw.deadline()

    def _flush(self, now):
        gw = self.gw
        tx = self._tx
        n = gw.pop_can(tx)
        while n:
            b = gw.tx_bus
            ok = b < len(self.cans) and self.cans[b].send(gw.tx_id, tx, n, gw.tx_flags)
            if ok:
                self.frames_out += 1
            else:
                self.tx_failed += 1
            if gw.cfg.tx_confirm:
                gw.confirm_can(now, ok, gw.tx_tag)
            n = gw.pop_can(tx)
        out = self._lout
        n = gw.pop_link(out)
        while n:
            self.link.write(out, n)
            n = gw.pop_link(out)
