# diagbridge.mpy.kline_uart: the K-Line port over machine.UART + machine.Pin,
# driven with fake UART and Pin objects on a fake wire and a fake clock.
# The wire delivers each byte one byte time after it was written to every open
# UART (the writer's included: the echo, unless echo=False), and a low pulse
# on a TX pin as one NUL byte at its release (a break, as a UART reads it).
from diagbridge.clock import TICKS_MASK, TICKS_PERIOD, ticks_diff
from diagbridge.codes import OK, K_TIMEOUT_W
from diagbridge.errors import ConfigError
from diagbridge.kline import (KLineTester, TesterConfig as KTesterConfig, KLineEcu, EcuConfig, EV_REQUEST,
                              EV_DONE, EV_FAILED, EV_KEY_BYTES, EV_INIT, EV_RESPONSE)
from diagbridge.mpy.kline_uart import KLineUart
from support import raises, run_locked

BYTE_US = 962


class Clock:
    """Virtual us from before the tick wrap; every reading moves 2 us on."""

    def __init__(self):
        self.t = TICKS_PERIOD - 1000000

    def __call__(self):
        self.t += 2
        return self.t & TICKS_MASK


class Wire:
    def __init__(self, clock, echo=True):
        self.clock = clock
        self.echo = echo
        self.uarts = []
        self.levels = []        # (t, name, level) of every pin call
        self.bytes = []         # (t, name, byte) of every write
        self._low_at = {}

    def write(self, src, b):
        t = self.clock.t
        self.bytes.append((t, src.name, b))
        for u in self.uarts:
            if u.open and (u is not src or self.echo):
                u.rx.append((t + BYTE_US, b))

    def level(self, name, v):
        t = self.clock.t
        self.levels.append((t, name, v))
        if v == 0:
            self._low_at[name] = t
        elif name in self._low_at:
            t0 = self._low_at.pop(name)
            if t - t0 >= BYTE_US:
                for u in self.uarts:
                    if u.open and u.name != name:
                        u.rx.append((t, 0))

    def next_delivery(self):
        ts = [u.rx[0][0] for u in self.uarts if u.open and u.rx]
        return min(ts) if ts else None


class FakeUart:
    def __init__(self, wire, name):
        self.wire = wire
        self.name = name
        self.open = True
        self.rx = []
        self.opens = 1
        wire.uarts.append(self)

    def any(self):
        t = self.wire.clock.t
        n = 0
        for at, b in self.rx:
            if at <= t:
                n += 1
        return n

    def readinto(self, buf):
        t = self.wire.clock.t
        k = 0
        while self.rx and self.rx[0][0] <= t and k < len(buf):
            buf[k] = self.rx.pop(0)[1]
            k += 1
        return k

    def write(self, buf):
        for b in buf:
            self.wire.write(self, b)
        return len(buf)

    def deinit(self):
        self.open = False
        self.rx = []


class FakePin:
    def __init__(self, wire, name):
        self.wire = wire
        self.name = name

    def value(self, v):
        self.wire.level(self.name, v)


class Board:
    """A port with its fake UART (reopened by the port) and TX pin."""

    def __init__(self, wire, name, machine, echo=True, ecu=False, on_event=None):
        self.wire = wire
        self.name = name
        self.uart = None
        self.opens = 0
        self.events = []
        self.user = on_event
        self.port = KLineUart(machine, self._open_uart, lambda: FakePin(wire, name), wire.clock,
                              echo=echo, ecu=ecu, on_event=self._event)

    def _open_uart(self):
        self.opens += 1
        self.uart = FakeUart(self.wire, self.name)
        return self.uart

    def _event(self, ev, now):
        m = self.port.machine
        self.events.append((ev, m.result))
        if self.user is not None:
            self.user(self, ev, now)


def run(wire, boards, us, stop=None):
    """Poll every board at each deadline or delivery for `us` virtual us."""
    clock = wire.clock
    end = clock.t + us
    while clock.t < end and not (stop is not None and stop()):
        nxt = end
        for b in boards:
            d = b.port.deadline()
            if d is not None:
                t = clock.t + ticks_diff(d, clock.t & TICKS_MASK)
                if t < nxt:
                    nxt = t
        w = wire.next_delivery()
        if w is not None and w < nxt:
            nxt = w
        if nxt > clock.t:
            clock.t = nxt
        for b in boards:
            b.port.poll(clock())


def answer(board, ev, now):
    if ev != EV_REQUEST:
        return
    m = board.port.machine
    if m.payload[m.data_off] == 0x1A:
        m.respond(now, b"\x5A\x80\x01\x02", 4)


def pair(echo=True):
    clock = Clock()
    wire = Wire(clock, echo)
    tester = Board(wire, "tester", KLineTester(KTesterConfig(tidle_us=0)), echo=echo)
    ecu = Board(wire, "ecu", KLineEcu(EcuConfig(address=0x11)), echo=echo, ecu=True,
                on_event=answer)
    return wire, tester, ecu


def test_fast_init_and_request_between_two_boards():
    wire, tester, ecu = pair()
    m = tester.port.machine
    m.fast_init(wire.clock() , 0x11)
    tester.port.poll(wire.clock())
    run(wire, [tester, ecu], 400000, stop=lambda: (EV_DONE, OK) in tester.events)
    assert (EV_KEY_BYTES, OK) in tester.events and m.initialised
    assert (m.kb1, m.kb2) == (0xEA, 0x8F)
    assert (EV_INIT, OK) in ecu.events and ecu.port.machine.initialised
    tester.events = []
    m.request(wire.clock(), 0x11, b"\x1A\x80", 2)
    tester.port.poll(wire.clock())
    run(wire, [tester, ecu], 400000, stop=lambda: (EV_DONE, OK) in tester.events)
    assert (EV_RESPONSE, OK) in tester.events
    assert bytes(m.payload[m.data_off:m.data_off + m.data_len]) == b"\x5A\x80\x01\x02"


def test_wake_up_pattern_on_the_pin_and_the_uart_reopened():
    wire, tester, ecu = pair()
    opens = tester.opens
    m = tester.port.machine
    m.fast_init(wire.clock(), 0x11)
    tester.port.poll(wire.clock())
    lv = [(t, v) for t, name, v in wire.levels if name == "tester"]
    assert [v for t, v in lv] == [0, 1]
    assert 25000 <= lv[1][0] - lv[0][0] <= 25020          # TiniL
    assert tester.opens == opens + 1                       # deinit, pin, UART again
    first = [t for t, name, b in wire.bytes if name == "tester"][0]
    assert 50000 <= first - lv[0][0] <= 50030               # TWuP
    lo, hi = tester.port.tinil_us
    assert 25000 <= lo <= hi <= 25020
    lo, hi = tester.port.twup_us
    assert 50000 <= lo <= hi <= 50030


def test_five_baud_address_pulses_leave_the_loop_running():
    clock = Clock()
    wire = Wire(clock)
    tester = Board(wire, "tester", KLineTester(KTesterConfig(tidle_us=0)))
    m = tester.port.machine
    m.five_baud_init(clock(), 0x33)
    tester.port.poll(clock())
    run(wire, [tester], 400000, stop=lambda: len(wire.levels) > 0)     # after W5
    # the first pulse is on; poll returned and the deadline is its release
    assert [v for t, n, v in wire.levels] == [0]
    t0 = wire.levels[0][0]
    assert ticks_diff(tester.port.deadline(), t0 & TICKS_MASK) >= 200000
    run(wire, [tester], 3000000, stop=lambda: len(tester.events) > 0)
    got = [((t - t0 + 500) // 1000, v) for t, n, v in wire.levels]
    # 0x33: start 0, bits 1 1 0 0 1 1 0 0, stop 1 (200 ms each)
    assert got == [(0, 0), (200, 1), (600, 0), (1000, 1), (1400, 0), (1800, 1)]
    assert tester.events == [(EV_FAILED, K_TIMEOUT_W)]     # no ECU sent 0x55


def test_synthetic_echo_on_a_wire_without_echo():
    wire, tester, ecu = pair(echo=False)
    m = tester.port.machine
    m.fast_init(wire.clock(), 0x11)
    tester.port.poll(wire.clock())
    run(wire, [tester, ecu], 400000, stop=lambda: (EV_DONE, OK) in tester.events)
    assert m.initialised and (EV_DONE, OK) in tester.events
    # the wire carried each byte once: the echoes came from the ports themselves
    sent = [b for t, n, b in wire.bytes if n == "tester"]
    assert sent == [0x81, 0x11, 0xF1, 0x81, 0x04]


def test_echo_expected_on_a_wire_without_one_fails_the_init():
    clock = Clock()
    wire = Wire(clock, echo=False)
    tester = Board(wire, "tester", KLineTester(KTesterConfig(tidle_us=0)), echo=True)
    m = tester.port.machine
    m.fast_init(clock(), 0x11)
    tester.port.poll(clock())
    run(wire, [tester], 400000, stop=lambda: EV_FAILED in [e for e, r in tester.events])
    assert tester.events[-1][0] == EV_FAILED and not m.initialised
    # only the first byte went: the next waits for an echo that never came
    assert [b for t, n, b in wire.bytes] == [0x81]


def test_ecu_needs_silence_before_start_communication():
    # the ECU's UART sees the tester's break as NUL and the request TWuP after
    # the fall; a StartCommunication right after other traffic is not an init
    clock = Clock()
    wire = Wire(clock)
    ecu = Board(wire, "ecu", KLineEcu(EcuConfig(address=0x11)), ecu=True)
    raw = FakeUart(wire, "raw")
    for b in b"\x55":
        wire.write(raw, b)
    clock.t += 10000
    for b in b"\x81\x11\xF1\x81\x04":
        wire.write(raw, b)
        clock.t += BYTE_US
    run(wire, [ecu], 200000)
    assert not ecu.port.machine.initialised
    assert [b for t, n, b in wire.bytes if n == "ecu"] == []


def test_bad_baud_is_a_config_error():
    clock = Clock()
    wire = Wire(clock)
    raises(ConfigError, KLineUart, KLineTester(), lambda: FakeUart(wire, "x"),
           lambda: FakePin(wire, "x"), clock, True, 0)


class RingUart:
    """A UART without allocation: received bytes in a preallocated buffer,
    every write echoed into it (the wire) and kept in `out`."""

    def __init__(self):
        self.buf = bytearray(64)
        self.r = 0
        self.w = 0
        self.out = bytearray(256)
        self.nout = 0

    def any(self):
        return self.w - self.r

    def readinto(self, b):
        k = 0
        while self.r < self.w and k < len(b):
            b[k] = self.buf[self.r]
            self.r += 1
            k += 1
        if self.r == self.w:
            self.r = 0
            self.w = 0
        return k

    def push(self, data):
        for x in data:
            self.buf[self.w] = x
            self.w += 1

    def write(self, b):
        for x in b:
            self.buf[self.w] = x
            self.w += 1
            self.out[self.nout] = x
            self.nout += 1
        return len(b)

    def deinit(self):
        pass


def test_an_ecu_exchange_allocates_nothing_per_byte():
    uart = RingUart()
    t = [TICKS_PERIOD - 1000000]

    def clock():
        t[0] += 2
        return t[0] & TICKS_MASK

    rsp = bytearray(b"\x5A\x80\x01\x02")
    m = KLineEcu(EcuConfig(address=0x11))

    def on_event(ev, now):
        if ev == EV_REQUEST:
            m.respond(now, rsp, 4)

    port = KLineUart(m, lambda: uart, lambda: None, clock, ecu=True, on_event=on_event)

    def run_us(us):
        end = t[0] + us
        while t[0] < end:
            t[0] += 250
            port.poll(clock())

    uart.push(b"\x81\x11\xF1\x81\x04")
    run_us(100000)
    assert m.initialised and uart.nout == 8          # the key bytes went out
    req = bytearray(b"\x80\x11\xF1\x02\x1A\x80\x1E")
    t[0] += 60000                                    # P3min after the response

    def exchange():
        uart.push(req)
        run_us(100000)
    run_locked(exchange)
    assert bytes(uart.out[8:uart.nout]) == b"\x80\xF1\x11\x04\x5A\x80\x01\x02\x63"
