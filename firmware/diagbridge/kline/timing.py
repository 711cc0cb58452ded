# K-Line timing (SSF 14230-2 section 4.4, Tables 1a-1c; ISO 14230-2 for what
# the SSF leaves out).  All values are integer microseconds; None = infinite.
#
#   P1  inter-byte time in an ECU response          P1min 0, P1max 20 ms
#   P2  end of request -> start of response, and end of a response -> start
#       of the next one                              P2 25..50 ms
#   P2* the P2 window after a 0x78 response          P2min..P3max
#   P3  end of the latest response -> start of the next request   55..5000 ms
#   P4  inter-byte time in a tester request          P4 5..20 ms
#
# Restrictions (section 4.4): P3min > P2max, P3min > P4min, Pimin < Pimax, and
# because a truncated message ends by timeout, P2min > P4max and P2min > P1max.
#
# AccessTimingParameter (section 5.3) carries P2min P2max P3min P3max P4min as
# one byte each: 0.5 ms steps for the minima, Table 1c for P2max, 250 ms steps
# for P3max; 0xFF = infinite for the maxima.  `Timing.set_from_atp` decodes
# and validates a TPI 03 request and answers with the response code the ECU
# sends when it refuses (0 = accepted).
#
# Initialisation timing: fast init (Table 5: TiniL 25 +-1 ms, TWuP 50 +-1 ms,
# TIdle) and the 5-baud init of ISO 14230-2 / ISO 9141-2 (W1-W5; the SSF does
# not define 5-baud init, so those values come from ISO 14230-2).
from diagbridge._compat import const
from diagbridge.kline.frame import RC_REQUEST_OUT_OF_RANGE, RC_SUB_FUNCTION_NOT_SUPPORTED

# Table 1a, normal timing set (default values).
P1MIN_US = const(0)
P1MAX_US = const(20000)
P2MIN_US = const(25000)
P2MAX_US = const(50000)
P3MIN_US = const(55000)
P3MAX_US = const(5000000)
P4MIN_US = const(5000)
P4MAX_US = const(20000)

# Table 1d, periodic transmission mode (section 4.4.2): P3min 5 ms, and the
# tester's jump-in window P3* = [P3min, P2min - 2 ms] (5..23 ms by default).
PERIODIC_P3MIN_US = const(5000)
P3S_MAX_BELOW_P2MIN_US = const(2000)
PERIODIC_P2MIN_LOW_US = const(7000)     # Table 1d lower limit of P2min
PERIODIC_P3MIN_GAP_US = const(10000)    # P3min <= P2min - 10 ms

# Extended timing set (key bytes TP0 = 1, TP1 = 0).  The SSF does not use it;
# these are the ISO 14230-2 defaults.
EXT_P2MIN_US = const(0)
EXT_P2MAX_US = const(1000000)
EXT_P3MIN_US = const(0)
EXT_P3MAX_US = const(5000000)
EXT_P4MIN_US = const(0)

# Table 1b resolutions.
HALF_MS_US = const(500)             # P2min, P3min, P4min: 0.5 ms per step
P3MAX_STEP_US = const(250000)       # P3max: 250 ms per step
P2MAX_STEP_US = const(25000)        # Table 1c, 0x01..0xF0: 25 ms per step
P2MAX_BIG_STEP_US = const(6400000)  # Table 1c, 0xF1..0xFE: nibble x 256 x 25 ms
ATP_INFINITE = const(0xFF)

# Fast init, Table 5 and section 5.1.2.2.
TINIL_US = const(25000)             # wake-up pattern low time
TINIL_TOL_US = const(1000)
TWUP_US = const(50000)              # WuP falling edge -> first StartCommunication start bit
TWUP_TOL_US = const(1000)
TIDLE_POWER_ON_US = const(300000)   # first transmission after power-on
TIDLE_STOP_US = P3MIN_US            # after StopCommunication (TIdle = P3min)
TIDLE_P3MAX_US = const(0)           # after a P3max timeout

# 5-baud init (ISO 14230-2 / ISO 9141-2).
FIVE_BAUD_BIT_US = const(200000)
W1_MIN_US = const(60000)            # end of address -> sync 0x55
W1_MAX_US = const(300000)
W2_MIN_US = const(5000)             # sync -> KB1
W2_MAX_US = const(20000)
W3_MIN_US = const(0)                # KB1 -> KB2
W3_MAX_US = const(20000)
W4_MIN_US = const(25000)            # KB2 -> inverted KB2, inverted KB2 -> inverted address
W4_MAX_US = const(50000)
W5_US = const(300000)               # bus idle before the address byte

# Access timing parameter identifiers (section 5.3).
TPI_READ_LIMITS = const(0x00)
TPI_SET_DEFAULTS = const(0x01)
TPI_READ_CURRENT = const(0x02)
TPI_SET_VALUES = const(0x03)


def byte_time_us(baud):
    """One 8N1 character (10 bit times) in whole microseconds, rounded."""
    return (10000000 + baud // 2) // baud


# ---- the ATP byte encodings (Table 1b, Table 1c) --------------------------------
def half_ms_from_byte(b):
    return b * HALF_MS_US


def half_ms_to_byte(us):
    """P2min / P3min / P4min as an ATP byte; -1 if not a 0.5 ms step in 0..127.5 ms."""
    if us is None or us < 0 or us % HALF_MS_US or us > 0xFF * HALF_MS_US:
        return -1
    return us // HALF_MS_US


def p2max_from_byte(b):
    """Table 1c: 0x01..0xF0 x 25 ms, 0xF1..0xFE low nibble x 6400 ms, 0xFF
    infinite (None).  0x00 is not defined: -1."""
    if b == ATP_INFINITE:
        return None
    if b == 0:
        return -1
    if b <= 0xF0:
        return b * P2MAX_STEP_US
    return (b & 0x0F) * P2MAX_BIG_STEP_US


def p2max_to_byte(us):
    """The Table 1c byte for a P2max; -1 if the value has no encoding."""
    if us is None:
        return ATP_INFINITE
    if us <= 0:
        return -1
    if us % P2MAX_STEP_US == 0 and us // P2MAX_STEP_US <= 0xF0:
        return us // P2MAX_STEP_US
    if us % P2MAX_BIG_STEP_US == 0 and 1 <= us // P2MAX_BIG_STEP_US <= 14:
        return 0xF0 | (us // P2MAX_BIG_STEP_US)
    return -1


def p3max_from_byte(b):
    return None if b == ATP_INFINITE else b * P3MAX_STEP_US


def p3max_to_byte(us):
    if us is None:
        return ATP_INFINITE
    if us < 0 or us % P3MAX_STEP_US or us // P3MAX_STEP_US >= ATP_INFINITE:
        return -1
    return us // P3MAX_STEP_US


def _lt(a, b):
    # a < b where None is infinite
    if b is None:
        return a is not None
    return a is not None and a < b


def _le(a, b):
    return b is None or (a is not None and a <= b)


class TimingLimits:
    """What an ECU can support, reported by ATP TPI 00 and enforced on TPI 03:
    the lowest minima and the highest maxima (None = infinite).  The default
    is the whole range of Table 1b."""

    def __init__(self, p2min_us=0, p2max_us=None, p3min_us=0, p3max_us=None, p4min_us=0):
        self.p2min_us = p2min_us
        self.p2max_us = p2max_us
        self.p3min_us = p3min_us
        self.p3max_us = p3max_us
        self.p4min_us = p4min_us

    def encode(self, out, off):
        """The five ATP bytes of TPI 00 at out[off:off+5]."""
        _put5(out, off, self.p2min_us, self.p2max_us, self.p3min_us, self.p3max_us,
              self.p4min_us)
        return off + 5

    def valid(self):
        return (half_ms_to_byte(self.p2min_us) >= 0 and p2max_to_byte(self.p2max_us) >= 0
                and half_ms_to_byte(self.p3min_us) >= 0 and p3max_to_byte(self.p3max_us) >= 0
                and half_ms_to_byte(self.p4min_us) >= 0)


def _put5(out, off, p2min, p2max, p3min, p3max, p4min):
    out[off] = half_ms_to_byte(p2min) & 0xFF
    out[off + 1] = p2max_to_byte(p2max) & 0xFF
    out[off + 2] = half_ms_to_byte(p3min) & 0xFF
    out[off + 3] = p3max_to_byte(p3max) & 0xFF
    out[off + 4] = half_ms_to_byte(p4min) & 0xFF


class Timing:
    """One active set of P1-P4 (microseconds; None = infinite).  P2* is
    [p2min_us, p3max_us] (section 4.4.1).  Defaults: Table 1a."""

    def __init__(self):
        self.extended = False
        self.periodic = False
        self.p1max_us = P1MAX_US
        self.p4max_us = P4MAX_US
        self.set_defaults(False)

    def set_defaults(self, extended):
        """The default values of the normal (Table 1a) or extended set."""
        self.extended = extended
        if extended:
            self.p2min_us = EXT_P2MIN_US
            self.p2max_us = EXT_P2MAX_US
            self.p3min_us = EXT_P3MIN_US
            self.p3max_us = EXT_P3MAX_US
            self.p4min_us = EXT_P4MIN_US
        else:
            self.p2min_us = P2MIN_US
            self.p2max_us = P2MAX_US
            self.p3min_us = P3MIN_US
            self.p3max_us = P3MAX_US
            self.p4min_us = P4MIN_US
        self.p1max_us = P1MAX_US
        self.p4max_us = P4MAX_US
        self.periodic = False

    def set_periodic_defaults(self):
        """Table 1d: the periodic transmission mode defaults."""
        self.set_defaults(False)
        self.p3min_us = PERIODIC_P3MIN_US
        self.periodic = True

    def copy_from(self, t):
        self.extended = t.extended
        self.periodic = t.periodic
        self.p1max_us = t.p1max_us
        self.p2min_us = t.p2min_us
        self.p2max_us = t.p2max_us
        self.p3min_us = t.p3min_us
        self.p3max_us = t.p3max_us
        self.p4min_us = t.p4min_us
        self.p4max_us = t.p4max_us

    @property
    def p2s_max_us(self):
        """P2*max = P3max."""
        return self.p3max_us

    @property
    def p3s_max_us(self):
        """P3*max = P2min - 2 ms: the end of the periodic jump-in window."""
        return self.p2min_us - P3S_MAX_BELOW_P2MIN_US

    def encode(self, out, off):
        """The five ATP bytes of TPI 02 (current values) at out[off:off+5]."""
        _put5(out, off, self.p2min_us, self.p2max_us, self.p3min_us, self.p3max_us,
              self.p4min_us)
        return off + 5

    def restrictions_ok(self):
        """Section 4.4: P3min > P2max, P3min > P4min, Pimin < Pimax, and
        P2min > P4max, P2min > P1max (end of message by timeout)."""
        f = periodic_restrictions_ok if self.periodic else restrictions_ok
        return f(self.p1max_us, self.p2min_us, self.p2max_us, self.p3min_us, self.p3max_us,
                 self.p4min_us, self.p4max_us)

    def set_from_atp(self, buf, off, n, limits):
        """Apply the TPI 03 values buf[off:off+n] (n must be 5).  Returns 0
        when applied, else the response code of the refusal (nothing changes):
        0x12 a wrong length or the undefined P2max byte 0x00, 0x31 a value
        outside the ECU's limits or a set that breaks the restrictions."""
        if n != 5:
            return RC_SUB_FUNCTION_NOT_SUPPORTED
        p2max = p2max_from_byte(buf[off + 1])
        if p2max is not None and p2max < 0:
            return RC_SUB_FUNCTION_NOT_SUPPORTED
        p2min = half_ms_from_byte(buf[off])
        p3min = half_ms_from_byte(buf[off + 2])
        p3max = p3max_from_byte(buf[off + 3])
        p4min = half_ms_from_byte(buf[off + 4])
        if (p2min < limits.p2min_us or not _le(p2max, limits.p2max_us)
                or p3min < limits.p3min_us or not _le(p3max, limits.p3max_us)
                or p4min < limits.p4min_us):
            return RC_REQUEST_OUT_OF_RANGE
        f = periodic_restrictions_ok if self.periodic else restrictions_ok
        if not f(self.p1max_us, p2min, p2max, p3min, p3max, p4min, self.p4max_us):
            return RC_REQUEST_OUT_OF_RANGE
        self.p2min_us = p2min
        self.p2max_us = p2max
        self.p3min_us = p3min
        self.p3max_us = p3max
        self.p4min_us = p4min
        return 0


def restrictions_ok(p1max, p2min, p2max, p3min, p3max, p4min, p4max):
    """The section 4.4 restrictions between the parameters (None = infinite)."""
    return (_lt(p2max, p3min) and p3min > p4min and _lt(p2min, p2max)
            and _lt(p3min, p3max) and p4min < p4max and p2min > p4max and p2min > p1max)


def periodic_restrictions_ok(p1max, p2min, p2max, p3min, p3max, p4min, p4max):
    """Section 4.4.2 rules 4-6 in periodic mode: Pimin < Pimax, P1max < P2min,
    P2min >= 7 ms, and the strictest reading of the P3* rules, P3min <= P2min - 10 ms
    (which keeps the P3* window >= 5 ms)."""
    return (_lt(p2min, p2max) and _lt(p3min, p3max) and p4min < p4max and p1max < p2min
            and p2min >= PERIODIC_P2MIN_LOW_US and p3min <= p2min - PERIODIC_P3MIN_GAP_US)
