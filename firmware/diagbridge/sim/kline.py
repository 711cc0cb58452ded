# The virtual K-Line: one single-wire, wired-AND bus (ISO 14230-1 style) with
# 8N1 UART ports and open-collector low pulses, in the kernel's virtual time.
#
# What is modelled, and why at this grain:
#   - A byte is one event at the end of its stop bit, like a real UART RX
#     interrupt; the bits inside it are not simulated.  Byte time = 10 bits /
#     baud (961.538 us at 10400).  Each port keeps a nanosecond cursor, so byte
#     k of a back-to-back burst ends at t0 + ceil(k * 10e9 / baud) ns and
#     streams never drift; the byte is delivered at that end rounded UP to the
#     microsecond (a single byte written at t arrives at t + 962 us).  The
#     rounding is done on the exact rational, so it never drifts either.
#   - Every byte is delivered to every port, the sender too: K-Line
#     transceivers echo the sender's own bytes, and the echo is how a sender
#     detects a collision (KWP2000 arbitration, SSF 14230-2 App. A).
#   - Two bytes whose frames overlap at all collide: each is delivered at its
#     own end time with KL_COLLISION and the wired-AND of every byte it
#     overlapped.  The real value of an unaligned overlap is garbage, so only
#     the flag is dependable.
#   - A receiver whose baud differs from the byte's baud gets KL_FRAMING.
#   - Low pulses (wake-up pattern, 5-baud address bits) are edges on `level`
#     and on_line; a byte overlapping a low period reads 0x00 with
#     KL_BREAK|KL_FRAMING, as a UART sees a held-low line (no stop bit).
#   - When a flag is set the value is unreliable: a real UART would have
#     delivered whatever it sampled.
#
# Notifications come from kernel callbacks, never from inside write() or
# drive_low(), so a handler that reacts by writing or pulling the line cannot
# interleave with the notification that caused it.  Traffic never raises;
# UsageError is only for a caller's mistake (bad byte, baud or duration).
from diagbridge._compat import const
from diagbridge.errors import UsageError
from diagbridge.sim.recorder import REC_BYTE, REC_LOW

# Byte flags, a bit mask passed to on_byte and stored in records.
KL_OK = const(0)
KL_FRAMING = const(1)       # stop bit missing or receiver at another baud
KL_COLLISION = const(2)     # another port's byte overlapped this one
KL_BREAK = const(4)         # the line was held low during the byte

KL_DEFAULT_BAUD = const(10400)      # SSF 14230-2 5.1.2.2: init and communication
FIVE_BAUD_BIT_US = const(200000)    # 5 baud: one bit cell is 200 ms

# 8N1 = 10 bit times; byte time in ns = _BYTE_NS_X_BAUD / baud.  Not const():
# 10e9 is no small int on a 32-bit port (the sim is not a hot path).
_BYTE_NS_X_BAUD = 10 * 1000000000
_NS_PER_US = const(1000)
_FLAG_NAMES = ((KL_FRAMING, "FRAMING"), (KL_COLLISION, "COLLISION"), (KL_BREAK, "BREAK"))
_ALL_FLAGS = const(7)


def _ceil_div(a, b):
    return -(-a // b)


def _check_byte(v):
    if not isinstance(v, int) or not 0 <= v <= 0xFF:
        raise UsageError("byte must be an int in 0..255")


def _check_baud(baud):
    if not isinstance(baud, int) or baud <= 0:
        raise UsageError("baud must be an int > 0")


class _Byte:
    # One character on the wire; its start and end are fixed when written
    # (a UART FIFO cannot be recalled), which is what lets a later writer
    # find every byte it overlaps.
    def __init__(self, port, sent, baud, start_ns, end_ns):
        self.port = port
        self.sent = sent
        self.value = sent
        self.flags = KL_OK
        self.baud = baud
        self.start_ns = start_ns
        self.end_ns = end_ns

    def overlaps(self, start_ns, end_ns):
        # Touching is not overlapping: a byte may start the instant another ends.
        return self.start_ns < end_ns and start_ns < self.end_ns

    def collide(self, other):
        self.value &= other.sent
        self.flags |= KL_COLLISION

    def held_low(self):
        self.value = 0
        self.flags |= KL_BREAK | KL_FRAMING


class KLinePort:
    """One node's transceiver: an 8N1 UART (tx and rx at `baud`) plus an
    open-collector pull-down for init pulses.  Made by KLine.attach()."""

    def __init__(self, line, name, baud):
        self._line = line
        self.name = name
        self.baud = baud
        self.on_byte = None     # callable(now, byte, flags), every byte incl. own echo
        self.on_line = None     # callable(now, level), edges from drive_low pulses
        self._cursor_ns = 0     # end of the last byte written (elapsed ns)
        self._t0_ns = 0         # start of the current back-to-back burst
        self._k = 0             # bytes in the burst so far
        self._burst_baud = baud

    def set_baud(self, baud):
        """Change this UART's rate for bytes written from now on and for what
        it receives.  Bytes already queued keep the rate they were written at."""
        _check_baud(baud)
        self.baud = baud

    @property
    def busy(self):
        """True while this port's UART is still sending (or has bytes queued)."""
        return self._cursor_ns > self._line.kernel.elapsed_us * _NS_PER_US

    def write(self, byte):
        """Start sending one 8N1 byte now, or right after the bytes still
        being sent (back-to-back, like a UART FIFO).  Pacing (P4) is the
        core's job, not the wire's."""
        _check_byte(byte)
        self._line._send(self, byte)

    def write_bytes(self, data):
        for b in data:           # check all first: a bad byte sends nothing
            _check_byte(b)
        for b in data:
            self._line._send(self, b)

    def drive_low(self, duration_us):
        """Pull the line low for duration_us from now (wired-AND with others)."""
        if not isinstance(duration_us, int) or duration_us <= 0:
            raise UsageError("duration_us must be an int > 0")
        self._line._drive_low(self, duration_us)

    def _place(self, now_ns):
        # Start and end (elapsed ns) of the next byte this port sends.
        if self._cursor_ns <= now_ns:
            # Idle: a new burst starts now.
            self._t0_ns = now_ns
            self._k = 0
            self._burst_baud = self.baud
        elif self._burst_baud != self.baud:
            # Rate changed with bytes still queued: a new burst at the cursor.
            self._t0_ns = self._cursor_ns
            self._k = 0
            self._burst_baud = self.baud
        start_ns = self._cursor_ns if self._cursor_ns > now_ns else now_ns
        self._k += 1
        # Whole burst from t0, not byte by byte: no accumulated rounding.
        self._cursor_ns = self._t0_ns + _ceil_div(self._k * _BYTE_NS_X_BAUD, self._burst_baud)
        return start_ns, self._cursor_ns


class KLine:
    """The wire.  `level` is the line as driven by low pulses: 1 idle/high,
    0 low.  UART bits are not simulated, so bytes do not move `level`."""

    def __init__(self, kernel, name="kline", recorder=None):
        self.kernel = kernel
        self.name = name
        self.recorder = recorder
        self.level = 1
        self._ports = []
        self._air = []              # bytes written and not yet delivered
        self._low_until_ns = 0      # end of the merged low period while level == 0

    def attach(self, name, baud=KL_DEFAULT_BAUD):
        _check_baud(baud)
        for p in self._ports:
            if p.name == name:      # records name the sender; keep them unambiguous
                raise UsageError("port name already attached")
        port = KLinePort(self, name, baud)
        self._ports.append(port)
        return port

    # ---- bytes ---------------------------------------------------------------
    def _send(self, port, value):
        k = self.kernel
        now_ns = k.elapsed_us * _NS_PER_US
        start_ns, end_ns = port._place(now_ns)
        b = _Byte(port, value, port._burst_baud, start_ns, end_ns)
        # A byte still in the air cannot have ended before now, and b starts
        # at or after now, so every overlap is found here, once, by the later
        # writer (delivered bytes can never be hit retroactively).
        for o in self._air:
            if o.port is not port and o.overlaps(start_ns, end_ns):
                o.collide(b)
                b.collide(o)
        if self.level == 0 and start_ns < self._low_until_ns:
            b.held_low()
        self._air.append(b)
        k.call_at(_ceil_div(end_ns, _NS_PER_US), self._deliver, b)

    def _deliver(self, now, b):
        self._air.remove(b)
        rec = self.recorder
        if rec is not None:
            rec.record(self.kernel.elapsed_us, now, self.name, REC_BYTE, b.port.name, 0,
                       bytes((b.value,)), b.flags)
        for p in self._ports:
            if p.on_byte is not None:
                f = b.flags
                if p.baud != b.baud:     # the receiver's rate at the moment it receives
                    f |= KL_FRAMING
                p.on_byte(now, b.value, f)

    # ---- low pulses ------------------------------------------------------------
    def _drive_low(self, port, duration_us):
        k = self.kernel
        now_ns = k.elapsed_us * _NS_PER_US
        until_ns = now_ns + duration_us * _NS_PER_US
        for b in self._air:
            if b.overlaps(now_ns, until_ns):
                b.held_low()
        if self.level:
            self.level = 0
            self._low_until_ns = until_ns
            # Deferred to a kernel call at this same instant: see the top.
            k.call_at(k.elapsed_us, self._edge, 0)
        elif until_ns > self._low_until_ns:
            self._low_until_ns = until_ns     # overlapping pulses merge
        k.call_at(k.elapsed_us + duration_us, self._release, (port, duration_us))

    def _release(self, now, arg):
        port, duration_us = arg
        k = self.kernel
        rec = self.recorder
        if rec is not None:
            # One record per pulse driven, at its own release.
            rec.record(k.elapsed_us, now, self.name, REC_LOW, port.name, duration_us, b"", KL_OK)
        # The line rises only when the last overlapping pulse lets go.  A new
        # pulse starting at this exact instant after this call shows as a
        # rise and a fall at the same tick.
        if self.level == 0 and self._low_until_ns <= k.elapsed_us * _NS_PER_US:
            self.level = 1
            self._edge(now, 1)

    def _edge(self, now, level):
        for p in self._ports:
            if p.on_line is not None:
                p.on_line(now, level)


def five_baud_pulses(address):
    """Low pulses that send `address` at 5 baud (start bit, 8 data bits LSB
    first, stop bit; 200 ms cells) as (offset_us, duration_us) from the start
    bit's falling edge.  Adjacent 0 bits merge into one pulse; the line idles
    high for the 1 bits and the stop bit, so the pattern lasts 2 s in all."""
    _check_byte(address)
    bits = (address << 1) | 0x200        # bit 0 = start (0), 1..8 = data, 9 = stop (1)
    pulses = []
    i = 0
    while i < 10:
        if (bits >> i) & 1:
            i += 1
            continue
        j = i
        while j < 10 and not (bits >> j) & 1:
            j += 1
        pulses.append((i * FIVE_BAUD_BIT_US, (j - i) * FIVE_BAUD_BIT_US))
        i = j
    return tuple(pulses)


def kline_flag_names(kind, flags):
    """Flag names for Recorder.lines(flag_names=...), e.g. 'FRAMING|BREAK'."""
    if kind != REC_BYTE and kind != REC_LOW:
        return "flags=0x%X" % flags      # another wire's record (CAN) in the same trace
    names = [n for bit, n in _FLAG_NAMES if flags & bit]
    if flags & ~_ALL_FLAGS:
        names.append("0x%X" % (flags & ~_ALL_FLAGS))
    return "|".join(names)
