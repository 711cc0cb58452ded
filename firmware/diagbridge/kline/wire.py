# The byte level both K-Line roles share: collecting one message by header
# length and inter-byte timeout (SSF 14230-2 4.5), and sending one message a
# byte at a time with every echo compared (App. A 1.4: a single-wire bus
# returns each byte to its sender; a difference is a collision).
#
# Times: a byte is timestamped when it completes (end of its stop bit), as a
# UART reports it; its start is that tick minus one byte time.  Buffers are
# allocated once; nothing here allocates per byte.
from diagbridge._compat import const
from diagbridge.clock import ticks_add
from diagbridge.codes import OK, K_COLLISION, K_FRAMING_ERROR
from diagbridge.kline.frame import MAX_FRAME, expected_total

# Byte flags fed with each byte (the same bits as the virtual wire and the
# adapters report): a set flag makes the byte's value unreliable.
RX_FRAMING = const(1)
RX_COLLISION = const(2)
RX_BREAK = const(4)


class MessageRx:
    """One message being received into `buf`."""

    def __init__(self):
        self.buf = bytearray(MAX_FRAME)
        self.n = 0
        self.total = 0          # frame length from the header; 0 unknown, -1 none
        self.first_at = 0       # tick the first byte completed
        self.last_at = 0        # tick the latest byte completed
        self.fault = OK         # first byte-level fault in this message

    def clear(self):
        self.n = 0
        self.total = 0
        self.fault = OK

    def add(self, now, b, flags):
        """Store one byte; True when the message is complete by its length."""
        n = self.n
        if n == 0:
            self.first_at = now
        self.last_at = now
        if flags and self.fault == OK:
            self.fault = K_COLLISION if flags & RX_COLLISION else K_FRAMING_ERROR
        if n < MAX_FRAME:
            self.buf[n] = b
            n += 1
            self.n = n
        if self.total == 0:
            self.total = expected_total(self.buf, n)
        return self.total > 0 and n >= self.total

    def gap_deadline(self, byte_us, gap_us):
        """The tick at which a byte that has not completed started more than
        gap_us after the end of the last one (a truncated message)."""
        return ticks_add(self.last_at, byte_us + gap_us + 1)


class MessageTx:
    """One message going out a byte at a time; the next byte leaves only
    after the previous one's echo came back unchanged."""

    def __init__(self):
        self.buf = bytearray(MAX_FRAME)
        self.n = 0
        self.i = 0              # bytes handed out
        self.echoed = 0         # bytes whose echo matched
        self.end_at = 0         # tick the last echo completed

    def start(self, n):
        self.n = n
        self.i = 0
        self.echoed = 0

    def pending(self):
        """A byte is waiting to go and no echo is outstanding."""
        return self.i < self.n and self.i == self.echoed

    def waiting_echo(self):
        return self.i > self.echoed

    def next_byte(self):
        b = self.buf[self.i]
        self.i += 1
        return b

    def echo(self, now, b, flags):
        """Check one echo: OK, or K_COLLISION (different value or any flag)."""
        if flags or b != self.buf[self.echoed]:
            return K_COLLISION
        self.echoed += 1
        if self.echoed == self.n:
            self.end_at = now
        return OK

    def done(self):
        return self.n > 0 and self.echoed == self.n
