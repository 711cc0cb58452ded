# Fault injection on the virtual CAN bus: seeded, deterministic rules that
# become a bus's fault hook (canbus.CanBus.fault).  The same seed and rules
# give the same faults on every interpreter, so a failing scenario replays.
#
#   plan = FaultPlan(seed=7)
#   plan.add(FaultRule(LOSS, rate_ppm=10000))                 # 1 % of all frames lost
#   plan.add(FaultRule(CRC_ERROR, can_id=0x7E8, skip=20, limit=5))  # a burst of 5
#   bus.fault = plan                                          # or Vehicle(faults={0: plan})
#   bus.fault = None                                          # off: costs nothing
#
# Kinds (each a verdict of the bus, canbus.py says how it is timed):
#   LOSS             the frame reaches no receiver; the sender sees success
#                    (lost behind a gateway, or a receiver that missed it)
#   CRC_ERROR        corruption the CRC detects: error frame after the ACK
#                    delimiter, TEC += 8, the controller retransmits; no
#                    receiver ever sees the corrupted bytes
#   CORRUPT_PAYLOAD  undetected corruption at the application level (a
#                    faulty gateway or controller): one payload byte is
#                    XORed with a non-zero mask, the CRC is recomputed, the
#                    changed frame is delivered
#   DELAY            extra latency of delay_us (+ 0..jitter_us): frames of
#                    other ids may overtake it, frames of its own id never do
#   DUPLICATE        delivered twice: the sender saw an error in the last EOF
#                    bit (a lost ACK) and retransmitted a frame the
#                    receivers had already accepted
#   BUS_OFF          the sender's controller goes bus-off during the frame:
#                    its frames are not sent and its node gets L_BUS_OFF
#                    confirmations; after off_us (0 = never) it recovers
#                    (plus 128 x 11 bit times, ISO 11898-1)
#
# A rule picks frames by can_id (None = any), sender (port name, None = any)
# and a window of elapsed time [from_us, until_us) (until_us -1 = open);
# the first `skip` matching frames pass, then each matching frame is hit
# with probability rate_ppm / 1e6 (1 % = 10000), at most `limit` times
# (-1 = no limit).  A burst is rate_ppm=RATE_ALL with skip and limit.
# Retransmissions are frames too: a CRC_ERROR burst of 3 can hit one frame
# three times.  Rules are tried in the order they were added; the first
# that hits decides the frame's fate.  Counters: rule.seen / rule.hits,
# plan.hits[kind], plan.frames.
from diagbridge._compat import const
from diagbridge.errors import ConfigError
from diagbridge.sim.canbus import (FAULT_NONE, FAULT_DROP, FAULT_ERROR, FAULT_DUPLICATE,
                                   FAULT_BUS_OFF)
from diagbridge.sim.rand import DeterministicRandom

LOSS = const(1)
CRC_ERROR = const(2)
CORRUPT_PAYLOAD = const(3)
DELAY = const(4)
DUPLICATE = const(5)
BUS_OFF = const(6)
_N_KINDS = const(7)

KIND_NAMES = ("", "loss", "crc_error", "corrupt_payload", "delay", "duplicate", "bus_off")

RATE_ALL = const(1000000)       # rate_ppm: every matching frame
_PPM = const(1000000)
_US_MAX = const(0x3FFFFFFF)


def kind_name(kind):
    """The name of a fault kind (for traces and test ids)."""
    if 0 < kind < _N_KINDS:
        return KIND_NAMES[kind]
    return "kind_%d" % kind


def _int(name, v, lo, hi):
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(name)
    return v


class FaultRule:
    """One kind of fault on the frames it selects (see the module text).
      delay_us, jitter_us  DELAY: latency delay_us + a seeded 0..jitter_us
      mask                 CORRUPT_PAYLOAD: XOR mask (0 = a seeded non-zero byte)
      off_us               BUS_OFF: time until recovery starts (0 = stays off)
    """

    def __init__(self, kind, rate_ppm=RATE_ALL, can_id=None, sender=None, skip=0, limit=-1,
                 from_us=0, until_us=-1, delay_us=0, jitter_us=0, mask=0, off_us=0):
        self.kind = _int("kind", kind, 1, _N_KINDS - 1)
        self.rate_ppm = _int("rate_ppm", rate_ppm, 0, _PPM)
        if can_id is not None:
            _int("can_id", can_id, 0, 0x1FFFFFFF)
        self.can_id = can_id
        if sender is not None and not isinstance(sender, str):
            raise ConfigError("sender")
        self.sender = sender
        self.skip = _int("skip", skip, 0, _US_MAX)
        self.limit = _int("limit", limit, -1, _US_MAX)
        self.from_us = _int("from_us", from_us, 0, _US_MAX)
        self.until_us = _int("until_us", until_us, -1, _US_MAX)
        if until_us != -1 and until_us <= from_us:
            raise ConfigError("until_us")
        self.delay_us = _int("delay_us", delay_us, 0, _US_MAX)
        self.jitter_us = _int("jitter_us", jitter_us, 0, _US_MAX)
        if kind == DELAY and delay_us == 0 and jitter_us == 0:
            raise ConfigError("delay_us")
        self.mask = _int("mask", mask, 0, 0xFF)
        self.off_us = _int("off_us", off_us, 0, _US_MAX)
        self.seen = 0               # frames that matched (skipped ones included)
        self.hits = 0               # frames it changed

    def matches(self, frame):
        if self.can_id is not None and frame.can_id != self.can_id:
            return False
        if self.sender is not None and frame.sender != self.sender:
            return False
        t = frame.t_start_us
        if t < self.from_us or (self.until_us >= 0 and t >= self.until_us):
            return False
        return True


class FaultPlan:
    """The hook: plan(frame) -> a canbus verdict.  seed: the DeterministicRandom
    seed; rules: FaultRules (more with add())."""

    def __init__(self, seed=1, rules=()):
        self._rnd = DeterministicRandom(_int("seed", seed, 0, 0x7FFFFFFF))
        self.rules = []
        self.frames = 0                     # frames offered to the plan
        self.hits = [0] * _N_KINDS          # by kind
        for r in rules:
            self.add(r)

    def add(self, rule):
        if not isinstance(rule, FaultRule):
            raise ConfigError("rule")
        self.rules.append(rule)
        return rule

    def total_hits(self):
        return sum(self.hits)

    def _draw(self, n):
        """A seeded int in 0..n-1 (n >= 1)."""
        b = self._rnd(3)
        return ((b[0] << 16) | (b[1] << 8) | b[2]) % n

    def _hit(self, rule):
        if rule.rate_ppm >= _PPM:
            return True
        if rule.rate_ppm == 0:
            return False
        return self._draw(_PPM) < rule.rate_ppm

    def __call__(self, frame):
        self.frames += 1
        for r in self.rules:
            if not r.matches(frame):
                continue
            r.seen += 1
            if r.seen <= r.skip or (r.limit >= 0 and r.hits >= r.limit):
                continue
            if not self._hit(r):
                continue
            v = self._apply(r, frame)
            if v < 0:
                continue                    # nothing to change (an empty frame)
            r.hits += 1
            self.hits[r.kind] += 1
            return v
        return FAULT_NONE

    def _apply(self, r, frame):
        k = r.kind
        if k == LOSS:
            return FAULT_DROP
        if k == CRC_ERROR:
            return FAULT_ERROR
        if k == DUPLICATE:
            return FAULT_DUPLICATE
        if k == DELAY:
            d = r.delay_us
            if r.jitter_us:
                d += self._draw(r.jitter_us + 1)
            frame.delay_us = d
            return FAULT_NONE
        if k == BUS_OFF:
            frame.off_us = r.off_us
            return FAULT_BUS_OFF
        # CORRUPT_PAYLOAD
        n = len(frame.data)
        if n == 0:
            return -1
        i = self._draw(n)
        m = r.mask
        if m == 0:
            m = 1 + self._draw(255)
        b = bytearray(frame.data)
        b[i] ^= m
        frame.data = bytes(b)
        return FAULT_NONE
