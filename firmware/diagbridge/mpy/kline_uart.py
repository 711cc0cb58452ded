# A K-Line link machine (KLineTester or KLineEcu) on a MicroPython
# machine.UART, with a machine.Pin on the TX line for the init patterns.
# Polled by the board runner (or any loop): poll(now) then wait until
# deadline().  The same contract as diagbridge.cpy.kline.port.KLinePort:
#
#   every byte the UART received is fed with its tick, own echoes included
#   (the machine compares them: the echo cancellation); echo=False feeds a
#   synthetic echo one byte time after each write (a transceiver that does
#   not echo);
#   LINE_LOW for low_us: uart.deinit(), the TX pin driven low, released
#   after low_us, the UART opened again (open_uart()) for the bytes that
#   follow.  A wake-up pattern (shorter than a 5-baud bit) is busy-waited
#   on the clock up to the first StartCommunication byte (TWuP); a 5-baud
#   address pulse (200 ms bits) is released by a later poll(), so the board
#   keeps running;
#   the achieved times are measured: `tinil_us` / `twup_us` hold the latest
#   (low, high) range, as the CPython port reports them;
#   an ECU (KLineEcu) cannot time the line's edges through a UART: while it
#   is not initialised a NUL after silence is taken as the wake-up break
#   and a byte that starts TWuP - 1 ms or more after the previous one is
#   preceded by the nominal edges (as the CPython port's wup="assume").
#
# open_uart() -> a configured machine.UART, e.g.
#     lambda: machine.UART(1, baudrate=10400, tx=TX, rx=RX)
# open_tx_pin() -> the TX pin as an output driven high, e.g.
#     lambda: machine.Pin(TX, machine.Pin.OUT, value=1)
# clock() -> the core's ticks (time.ticks_us() & TICKS_MASK).
# Buffers are allocated once; poll() allocates nothing per byte.
from diagbridge._compat import const
from diagbridge.clock import ticks_add, ticks_diff, due, earliest
from diagbridge.errors import ConfigError
from diagbridge.kline.events import LINE_LOW, LINE_HIGH
from diagbridge.kline import timing as T

_RX_BUF = const(32)


class KLineUart:
    def __init__(self, machine, open_uart, open_tx_pin, clock, echo=True, baud=10400,
                 on_event=None, ecu=False):
        if baud < 1 or baud > 1000000:
            raise ConfigError("baud")
        self.machine = machine
        self._open_uart = open_uart
        self._open_pin = open_tx_pin
        self._clock = clock
        self.echo = echo
        self.on_event = on_event
        self._ecu = ecu                 # a KLineEcu (the wake-up inference applies)
        self._byte_us = T.byte_time_us(baud)
        self.uart = open_uart()
        self.pin = None
        self._rx = bytearray(_RX_BUF)
        self._one = bytearray(1)
        self._echo_at = None            # synthetic echo (one byte at most is unanswered)
        self._echo_b = 0
        self._release_at = None         # a 5-baud pulse ends then
        self._last_rx = None
        self._fall0 = 0
        self._fall1 = 0
        self._twup_open = False
        self.tinil_us = None            # (low, high) of the latest wake-up low time
        self.twup_us = None             # (low, high) of the latest TWuP
        self.rx_count = 0
        self.tx_count = 0

    # -- the loop -------------------------------------------------------------------
    def poll(self, now):
        """Feed what arrived, run the machine's timers, send what is due."""
        if self._release_at is not None:
            if not due(now, self._release_at):
                return                  # a 5-baud pulse holds the line
            self._release()
            now = self._clock()
        if self._echo_at is not None and due(now, self._echo_at):
            at = self._echo_at
            self._echo_at = None
            self._feed_byte(at, self._echo_b)
        u = self.uart
        if u is not None and u.any():
            k = u.readinto(self._rx)
            if k:
                t = self._clock()
                for i in range(k):
                    ts = ticks_add(t, -(k - 1 - i) * self._byte_us)
                    if self._last_rx is not None and ticks_diff(ts, self._last_rx) < 0:
                        ts = self._last_rx
                    self._feed_byte(ts, self._rx[i])
                    self._flush(ts)
        now = self._clock()
        self.machine.on_timer(now)
        self._flush(now)

    def deadline(self):
        if self._release_at is not None:
            return self._release_at
        return earliest(self.machine.deadline(), self._echo_at)

    # -- inside -----------------------------------------------------------------------
    def _feed_byte(self, ts, b):
        m = self.machine
        self.rx_count += 1
        if self._ecu and not m.initialised:
            quiet = self._last_rx is None or ticks_diff(
                ticks_add(ts, -self._byte_us), self._last_rx) >= T.TWUP_US - T.TWUP_TOL_US
            if quiet and b == 0:
                return                  # the wake-up low, as a UART reads it (a break)
            if quiet:
                fall = ticks_add(ts, -self._byte_us - T.TWUP_US)
                m.feed_line(fall, 0)
                m.feed_line(ticks_add(fall, T.TINIL_US), 1)
        self._last_rx = ts
        m.feed_byte(ts, b, 0)

    def _flush(self, now):
        m = self.machine
        while True:
            ev = m.poll()
            while ev:
                if self.on_event is not None:
                    self.on_event(ev, now)
                ev = m.poll()
            if self._release_at is not None:
                return
            a = m.pop_line(now)
            if a == LINE_LOW:
                if not self._low(m.low_us):
                    return              # a 5-baud pulse: released by a later poll
                now = self._clock()
                continue
            if a == LINE_HIGH:
                continue
            b = m.pop_byte(now)
            if b < 0:
                return
            self._write(b)
            now = self._clock()

    def _drive_low(self):
        if self.uart is not None:
            self.uart.deinit()
            self.uart = None
        if self.pin is None:
            self.pin = self._open_pin()
        t0 = self._clock()
        self.pin.value(0)
        t1 = self._clock()
        self._fall0 = t0
        self._fall1 = t1
        return t1

    def _low(self, low_us):
        """Start a low pulse; True if it is over (a wake-up, busy-waited)."""
        t1 = self._drive_low()
        if low_us >= T.FIVE_BAUD_BIT_US:
            self._release_at = ticks_add(t1, low_us)
            return False
        until = ticks_add(t1, low_us)
        while ticks_diff(until, self._clock()) > 0:
            pass
        t2 = self._clock()
        self.pin.value(1)
        t3 = self._clock()
        self.tinil_us = (ticks_diff(t2, self._fall1), ticks_diff(t3, self._fall0))
        self._reopen()
        m = self.machine
        if m.pop_line(self._clock()) != LINE_HIGH:
            at = m.deadline()
            while at is not None and ticks_diff(at, self._clock()) > 0:
                pass
            m.pop_line(self._clock())
        self._twup_open = True
        at = m.deadline()               # the StartCommunication's first byte
        while at is not None and ticks_diff(at, self._clock()) > 0:
            pass
        return True

    def _release(self):
        self._release_at = None
        self.pin.value(1)
        self._reopen()
        m = self.machine
        m.pop_line(self._clock())       # LINE_HIGH: the machine plans what follows

    def _reopen(self):
        self.pin = None
        self.uart = self._open_uart()

    def _write(self, b):
        self._one[0] = b
        w0 = self._clock()
        self.uart.write(self._one)
        self.tx_count += 1
        if self._twup_open:
            self._twup_open = False
            w1 = self._clock()
            self.twup_us = (ticks_diff(w0, self._fall1), ticks_diff(w1, self._fall0))
        if not self.echo:
            self._echo_at = ticks_add(self._clock(), self._byte_us)
            self._echo_b = b
