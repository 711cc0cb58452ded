"""The CPython clock for the core: wrapping microsecond ticks (diagbridge.clock)."""
import time

from diagbridge.clock import TICKS_MASK


def now_us() -> int:
    """Monotonic microseconds wrapping at 2**29, the core's `now`."""
    return (time.monotonic_ns() // 1000) & TICKS_MASK
