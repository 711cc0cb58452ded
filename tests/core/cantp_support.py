# Shared helpers for the CAN-TP tests (no tests here).
#
# Link wires two channels back to back in virtual time: frames popped from one
# side reach the other `delay_us` later, and the sender gets its confirmation
# at the same instant.  Runs under CPython (pytest) and MicroPython.
from diagbridge.clock import TICKS_PERIOD, ticks_add, ticks_diff, ticks_less
from diagbridge.cantp import (Channel, TpConfig, Address, ADDR_NORMAL_11,
                              EV_TX_DONE, EV_TX_FAILED, EV_RX_FF, EV_RX_DONE,
                              EV_RX_FAILED)

T0 = TICKS_PERIOD - 1_500_000       # 1.5 s before the wrap: long runs cross it

EV_NAMES = {EV_TX_DONE: "TX_DONE", EV_TX_FAILED: "TX_FAILED", EV_RX_FF: "RX_FF",
            EV_RX_DONE: "RX_DONE", EV_RX_FAILED: "RX_FAILED"}


def client_addr():
    return Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF)


def ecu_addr():
    return Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0, func_rx_id=0x7DF)


def pair(cfg_a=None, cfg_b=None, addr_a=None, addr_b=None):
    a = Channel(cfg_a or TpConfig(), addr_a or client_addr())
    b = Channel(cfg_b or cfg_a or TpConfig(), addr_b or ecu_addr())
    return a, b


def msg(n, seed=0):
    b = bytearray(n)
    for i in range(n):
        b[i] = (i * 7 + seed + (i >> 8)) & 0xFF
    return b


def pop(ch):
    """Pop one frame; (bytes, can_id, flags, tag) or None."""
    out = bytearray(64)
    n = ch.pop_frame(out)
    if n == 0:
        return None
    return bytes(out[:n]), ch.tx_id, ch.tx_flags, ch.tx_tag


def drain(ch, now):
    """All frames a channel has now, each confirmed at once."""
    frames = []
    while True:
        f = pop(ch)
        if f is None:
            return frames
        frames.append(f)
        ch.confirm(now, True, f[3])


def events(ch):
    """All pending events as (kind, result, length, payload-or-None)."""
    evs = []
    while True:
        ev = ch.poll()
        if ev == 0:
            return evs
        data = None
        if ev == EV_RX_DONE:
            data = bytes(ch.payload[:ch.length])
        evs.append((ev, ch.result, ch.length, data))


def feed(ch, now, frm):
    data, can_id, flags = frm[0], frm[1], frm[2]
    return ch.feed_frame(now, can_id, data, len(data), flags)


def hexs(s):
    return bytes.fromhex(s.replace(" ", ""))


class Link:
    """Two channels in virtual time.  log: (t_us, side, data, can_id);
    evs: (t_us, side, kind, result, length, payload)."""

    def __init__(self, a, b, t0=T0, delay_us=0):
        self.ch = (a, b)
        self.t0 = t0
        self.now = t0
        self.delay_us = (delay_us, delay_us)    # per sending side
        self.log = []
        self.evs = []
        self.filter = None          # fn(side, index, frame) -> list of frames to deliver
        self.confirm = (True, True)  # per side: report tx confirmations
        self.on_event = None        # fn(link, side, ev)
        self._q = []                # (t, kind, side, payload)  kind 0 = deliver, 1 = confirm
        self._sent = [0, 0]
        self._out = bytearray(64)

    def t(self):
        return ticks_diff(self.now, self.t0)

    def _flush(self):
        out = self._out
        moved = True
        while moved:
            moved = False
            for side in (0, 1):
                ch = self.ch[side]
                n = ch.pop_frame(out)
                if n == 0:
                    continue
                moved = True
                frm = (bytes(out[:n]), ch.tx_id, ch.tx_flags)
                self.log.append((self.t(), side, frm[0], frm[1]))
                at = ticks_add(self.now, self.delay_us[side])
                idx = self._sent[side]
                self._sent[side] = idx + 1
                deliver = [frm] if self.filter is None else self.filter(side, idx, frm)
                for f in deliver:
                    self._q.append((at, 0, 1 - side, f))
                if self.confirm[side]:
                    self._q.append((at, 1, side, ch.tx_tag))
            self._events()

    def _events(self):
        for side in (0, 1):
            ch = self.ch[side]
            while True:
                ev = ch.poll()
                if ev == 0:
                    break
                data = bytes(ch.payload[:ch.length]) if ev == EV_RX_DONE else None
                self.evs.append((self.t(), side, ev, ch.result, ch.length, data))
                if self.on_event is not None:
                    self.on_event(self, side, ev)

    def request(self, side, data, n=None, ta_type=0):
        self.ch[side].request(self.now, data, len(data) if n is None else n, ta_type)
        self._flush()

    def run(self, limit_us=60_000_000, steps=200000):
        """Advance until nothing is left to do (or limit_us after t0)."""
        self._flush()
        for _ in range(steps):
            nxt = None
            for q in self._q:
                if nxt is None or ticks_less(q[0], nxt):
                    nxt = q[0]
            for ch in self.ch:
                d = ch.deadline()
                if d is not None and (nxt is None or ticks_less(d, nxt)):
                    nxt = d
            if nxt is None or ticks_diff(nxt, self.t0) > limit_us:
                return
            if ticks_less(self.now, nxt):
                self.now = nxt
            now = self.now
            due = [q for q in self._q if not ticks_less(now, q[0])]
            self._q = [q for q in self._q if ticks_less(now, q[0])]
            for q in due:
                ch = self.ch[q[2]]
                if q[1] == 0:
                    feed(ch, now, q[3])
                else:
                    ch.confirm(now, True, q[3])
                self._events()
            for ch in self.ch:
                ch.on_timer(now)
            self._events()
            self._flush()
        raise AssertionError("link did not settle")

    def advance(self, t_us):
        """Run until t0 + t_us, then stand at that time."""
        self.run(t_us)
        self.now = ticks_add(self.t0, t_us)
        for ch in self.ch:
            ch.on_timer(self.now)
        self._events()
        self._flush()

    def kinds(self, side=None):
        return [e[2] for e in self.evs if side is None or e[1] == side]

    def last(self, side, kind):
        for e in reversed(self.evs):
            if e[1] == side and e[2] == kind:
                return e
        return None

    def frames(self, side):
        return [f for f in self.log if f[1] == side]
