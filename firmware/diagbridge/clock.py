# Integer microsecond ticks that wrap at 2**29 (about 537 s).
#
# 2**29 keeps every tick and every sum of two ticks a small int on 32-bit ports,
# so timer arithmetic never allocates.  A difference is meaningful while the two
# ticks are less than half a period (about 268 s) apart: far above P2* (5 s) or
# a 5-baud init (about 2 s).  Only this module does tick arithmetic.
from diagbridge._compat import const

TICKS_PERIOD = const(0x20000000)
TICKS_MASK = const(0x1FFFFFFF)
TICKS_HALF = const(0x10000000)


def ticks_add(t, delta_us):
    """Tick `delta_us` after `t` (delta may be negative)."""
    return (t + delta_us) & TICKS_MASK


def ticks_diff(a, b):
    """Signed a - b in microseconds, correct across the wrap."""
    return ((a - b + TICKS_HALF) & TICKS_MASK) - TICKS_HALF


def ticks_less(a, b):
    """True when tick a is before tick b."""
    return ticks_diff(a, b) < 0


def due(now, at):
    """True when a timer set for tick `at` (or None: unset) has expired at `now`."""
    return at is not None and ticks_diff(now, at) >= 0


def earliest(a, b):
    """The earlier of two deadlines; None means no deadline."""
    if a is None:
        return b
    if b is None:
        return a
    return a if ticks_diff(a, b) <= 0 else b
