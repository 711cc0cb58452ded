# The 5-baud address byte of ISO 14230-2 / ISO 9141-2 init: 1 start bit, 8
# data bits LSB first, 1 stop bit, 200 ms per bit (2 s in all), sent by the
# tester as low pulses and read by the ECU from the line's edges.
from diagbridge._compat import const
from diagbridge.clock import ticks_add, ticks_diff
from diagbridge.kline.timing import FIVE_BAUD_BIT_US

ADDRESS_US = const(2000000)     # the whole address byte: 10 bit cells
_TOL_US = const(20000)          # an edge may be 10 % of a bit cell off its boundary


class AddressPulses:
    """The tester's side: the low pulses of one address byte, one at a time
    (adjacent 0 bits merge into one pulse)."""

    def __init__(self):
        self.t0 = 0             # falling edge of the start bit
        self.at = 0             # tick the next pulse starts
        self.low_us = 0         # its length
        self._bits = 0
        self._k = 0

    def start(self, t0, address):
        self.t0 = t0
        self._bits = ((address & 0xFF) << 1) | 0x200     # bit 0 start (0), bit 9 stop (1)
        self._k = 0

    def next(self):
        """Plan the next pulse (at, low_us); False once the address is out."""
        bits = self._bits
        k = self._k
        while k < 10 and (bits >> k) & 1:
            k += 1
        if k >= 10:
            return False
        j = k
        while j < 10 and not (bits >> j) & 1:
            j += 1
        self._k = j
        self.at = ticks_add(self.t0, k * FIVE_BAUD_BIT_US)
        self.low_us = (j - k) * FIVE_BAUD_BIT_US
        return True

    def end(self):
        """Tick the stop bit ends."""
        return ticks_add(self.t0, ADDRESS_US)


class AddressDecoder:
    """The ECU's side: bits from edge times, each within 20 ms of a cell
    boundary counted from the start bit's falling edge."""

    def __init__(self):
        self.t0 = 0
        self._bits = 0
        self._k = 0
        self._level = 0

    @staticmethod
    def starts(low_us):
        """A low period this long can be the start bit (with more 0 bits)."""
        return low_us >= FIVE_BAUD_BIT_US - _TOL_US

    def start(self, t0):
        self.t0 = t0
        self._bits = 0
        self._k = 0
        self._level = 0

    def edge(self, now, level):
        """An edge; False if it falls off the bit grid (not an address)."""
        d = ticks_diff(now, self.t0)
        k = (d + FIVE_BAUD_BIT_US // 2) // FIVE_BAUD_BIT_US
        off = d - k * FIVE_BAUD_BIT_US
        if off < -_TOL_US or off > _TOL_US or k > 9 or k <= self._k:
            return False
        if not level:                   # a fall ends a run of 1 bits
            for i in range(self._k, k):
                self._bits |= 1 << i
        self._k = k
        self._level = level
        return True

    def end(self):
        """At the end of the stop bit: the address, or -1 (no stop bit)."""
        if not self._level:
            return -1
        for i in range(self._k, 10):
            self._bits |= 1 << i        # high since the last rise
        return (self._bits >> 1) & 0xFF
