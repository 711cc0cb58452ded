"""K-Line over pyserial (diagbridge.cpy.kline): our tester port and our ECU
runner on real pseudo-terminals, and the init patterns on a fake clock.

A pty carries no break and no baud pacing, so the pattern timing (TiniL, TWuP,
the 5-baud address bits) is asserted on the record of the adapter's
break_condition / write calls against a fake clock; the exchanges on real ptys
run on the real clock and assert behaviour only, with generous timeouts
(protocol timing is asserted exactly on the simulated wire in tests/core)."""
import logging
import threading

import pytest

from diagbridge.clock import TICKS_MASK, TICKS_PERIOD
from diagbridge.codes import K_COLLISION, K_TIMEOUT_P2MAX, K_TIMEOUT_W
from diagbridge.errors import ConfigError
from diagbridge.kline import (KLineEcu, KLineTester, TesterConfig as KTesterConfig, EcuConfig, EV_FAILED,
                              EV_INIT, EV_REQUEST)
from diagbridge.cpy.kline.ecu import KLineEcuRunner
from diagbridge.cpy.kline.port import (KLinePort, KLineLinkError, KLineTimeout,
                                       KLineTimingError)
from diagbridge.cpy.kline.ptywire import PtyWire
from diagbridge.cpy.kline.tester import KLineTesterPort

# Threads on a shared machine: an echo may take milliseconds, as on a USB adapter.
SLACK_US = 15000


def echo_answer(req, functional):
    """A small ECU application: 1A (ReadEcuIdentification) answered positively,
    anything else with 7F SId 11 (serviceNotSupported)."""
    if req[0] == 0x1A:
        return b"\x5A" + req[1:2] + b"DIAGBRIDGE-K"
    return bytes((0x7F, req[0], 0x11))


def pty_pair(echo=True, tester_cfg=None, ecu_cfg=None, **kw):
    wire = PtyWire(2, echo=echo)
    ecu = KLineEcuRunner(wire.names[1], echo_answer,
                         ecu_cfg or EcuConfig(address=0x11, echo_slack_us=SLACK_US),
                         paced=False, echo=kw.get("ecu_echo", echo))
    tester = KLineTesterPort(wire.names[0],
                             tester_cfg or KTesterConfig(tidle_us=0, echo_slack_us=SLACK_US),
                             target=0x11, paced=False, timing="warn",
                             echo=kw.get("tester_echo", echo))
    return wire, tester, ecu


def close_all(*things):
    for t in things:
        t.close()


# ---- real pseudo-terminals ------------------------------------------------------------
def test_fast_init_request_and_stop_over_a_pty_wire():
    wire, tester, ecu = pty_pair()
    try:
        kb = tester.fast_init(timeout=10.0)
        assert kb == b"\xEA\x8F"                  # the SSF key bytes, checked by the core
        assert tester.initialised and ecu.inits == 1
        # the wake-up pattern was driven and measured (TiniL, then TWuP at the first byte)
        whats = [p.what for p in tester.port.patterns]
        assert whats == ["TiniL", "TWuP"]
        assert tester.port.patterns[0].nominal_us == 25000
        assert tester.port.patterns[1].nominal_us == 50000
        rsp = tester.request(b"\x1A\x80", timeout=10.0)
        assert rsp == b"\x5A\x80DIAGBRIDGE-K"
        assert list(ecu.requests) == [(0xF1, b"\x1A\x80", False)]
        # a negative response is data, returned like any other
        assert tester.request(b"\x21\x01", timeout=10.0) == b"\x7F\x21\x11"
        # StopCommunication is answered by the ECU's link and ends it on both sides
        assert tester.request(b"\x82", timeout=10.0) == b"\xC2"
        assert not tester.initialised
        assert ecu.stops == 1
        # every byte on the wire came back to its writer: the echoes were compared, no collision
        assert K_COLLISION not in tester.errors and K_COLLISION not in ecu.errors
    finally:
        close_all(tester, ecu, wire)


def test_a_wire_without_echo_needs_synthetic_echoes():
    # echo=False on both ports: each feeds its own bytes back one byte time later
    wire, tester, ecu = pty_pair(echo=False)
    try:
        assert tester.fast_init(timeout=10.0) == b"\xEA\x8F"
        assert tester.request(b"\x1A\x80", timeout=10.0)[:2] == b"\x5A\x80"
    finally:
        close_all(tester, ecu, wire)


def test_expecting_an_echo_on_a_wire_without_one_is_a_collision():
    # the tester waits for the echo of its first byte, which never comes: the
    # core reports the init as failed with K_COLLISION (App. A 1.4)
    wire, tester, ecu = pty_pair(echo=False, tester_echo=True)
    try:
        with pytest.raises(KLineLinkError) as e:
            tester.fast_init(timeout=10.0)
        assert e.value.result == K_COLLISION and e.value.name == "K_COLLISION"
        assert not tester.initialised
    finally:
        close_all(tester, ecu, wire)


def test_the_callers_timeout_is_a_timeout_without_result():
    wire = PtyWire(2)
    tester = KLineTesterPort(wire.names[0], KTesterConfig(), paced=False, timing="warn")
    try:
        # TIdle after power-on is 300 ms: a 50 ms timeout runs out first
        with pytest.raises(KLineTimeout) as e:
            tester.fast_init(timeout=0.05)
        assert e.value.result is None
    finally:
        close_all(tester, wire)


# ---- a fake serial port on a fake clock ---------------------------------------------------
class FakeClock:
    """Virtual microseconds from just before the tick wrap; every reading
    advances `step_us` (a spin loop moves on), sleeping advances the time slept."""

    def __init__(self, step_us=2):
        self.t = TICKS_PERIOD - 1000000
        self.step_us = step_us
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            self.t += self.step_us
            return self.t & TICKS_MASK

    def sleep(self, s):
        with self.lock:
            self.t += int(s * 1e6)

    def advance(self, us):
        with self.lock:
            self.t += us

    def elapsed(self):
        return self.t


class FakeSerial:
    """Records (virtual us, what, value) for break_condition and write; echoes
    what is written (echo=True); bytes scripted with feed_at(us, data) arrive
    at that virtual time.  latency_us: how long each break_condition call
    takes (a USB adapter's latency)."""

    def __init__(self, clock, echo=True, latency_us=0):
        self.clock = clock
        self.echo = echo
        self.latency_us = latency_us
        self.log = []
        self.rx = bytearray()
        self.script = []
        self._brk = False

    @property
    def break_condition(self):
        return self._brk

    @break_condition.setter
    def break_condition(self, v):
        self.clock.advance(self.latency_us // 2)
        self.log.append((self.clock.elapsed(), "break", v))
        self._brk = v
        self.clock.advance(self.latency_us - self.latency_us // 2)

    def write(self, data):
        self.log.append((self.clock.elapsed(), "write", bytes(data)))
        if self.echo:
            self.rx += data
        return len(data)

    def feed_at(self, at, data):
        self.script.append((at, bytes(data)))

    @property
    def in_waiting(self):
        now = self.clock.elapsed()
        while self.script and self.script[0][0] <= now:
            self.rx += self.script.pop(0)[1]
        return len(self.rx)

    def read(self, n):
        d = bytes(self.rx[:n])
        del self.rx[:n]
        return d

    def breaks(self):
        return [(t, v) for t, what, v in self.log if what == "break"]

    def writes(self):
        return [(t, v) for t, what, v in self.log if what == "write"]


def run_virtual(port, ser, clock, until_us, stop=None):
    """Step the port when bytes are waiting, else at its next deadline or the
    next scripted arrival, until elapsed until_us (or stop())."""
    while clock.elapsed() < until_us and not (stop and stop()):
        if not ser.in_waiting:
            at = port.next_due()
            step = 1000 if at is None else (at - clock()) & TICKS_MASK
            if step >= 0x10000000:
                step = 0                            # already due
            if ser.script:
                step = min(step, max(0, ser.script[0][0] - clock.elapsed()))
            clock.advance(min(step, max(0, until_us - clock.elapsed())))
        port.step()


def test_wake_up_pattern_timing_on_the_call_log():
    clock = FakeClock()
    ser = FakeSerial(clock)
    m = KLineTester(KTesterConfig(tidle_us=0))
    port = KLinePort(ser, m, clock=clock, sleeper=clock.sleep, start=False)
    port.call(lambda now: m.fast_init(now, 0x11))
    run_virtual(port, ser, clock, clock.elapsed() + 80000, stop=lambda: len(ser.writes()) == 5)
    (t_low, v_low), (t_high, v_high) = ser.breaks()
    assert (v_low, v_high) == (True, False)
    # TiniL 25 ms between the two calls, the first byte TWuP 50 ms after the fall
    # (within the few us the fake clock moves per reading)
    assert 25000 <= t_high - t_low <= 25050
    w = ser.writes()
    assert [b for _, b in w] == [b"\x81", b"\x11", b"\xF1", b"\x81", b"\x04"]
    assert 50000 <= w[0][0] - t_low <= 50050
    # the bytes go P4 (5 ms) after each echo, which this fake returns at once
    for (a, _), (b, _) in zip(w, w[1:]):
        assert 5000 <= b - a <= 5100
    tinil, twup = port.patterns
    assert (tinil.what, tinil.ok, twup.what, twup.ok) == ("TiniL", True, "TWuP", True)
    assert tinil.error_us <= 50 and twup.error_us <= 100
    assert port.refused is None


def test_five_baud_address_bits_on_the_call_log():
    clock = FakeClock()
    ser = FakeSerial(clock)
    m = KLineTester(KTesterConfig(tidle_us=0))
    events = []
    port = KLinePort(ser, m, clock=clock, sleeper=clock.sleep, start=False,
                     on_event=lambda ev, now: events.append((ev, m.result)))
    port.call(lambda now: m.five_baud_init(now, 0x33))
    run_virtual(port, ser, clock, clock.elapsed() + 3000000, stop=lambda: events)
    br = ser.breaks()
    t0 = br[0][0]
    # 0x33 LSB first with start and stop bits: 0 1 1 0 0 1 1 0 0 1, 200 ms each;
    # adjacent 0 bits are one pulse
    got = [(round((t - t0) / 1000), v) for t, v in br]
    assert got == [(0, True), (200, False), (600, True), (1000, False), (1400, True),
                   (1800, False)]
    for t, v in br:
        assert abs((t - t0) - round((t - t0) / 200000) * 200000) <= 1000   # on the bit grid
    assert [p.what for p in port.patterns] == ["5-baud low"] * 3
    assert [p.nominal_us for p in port.patterns] == [200000, 400000, 400000]
    # no ECU answers with 0x55 within W1: the init fails with K_TIMEOUT_W
    assert events == [(EV_FAILED, K_TIMEOUT_W)]
    assert ser.writes() == []


def test_a_slow_adapter_makes_the_tinil_check_refuse():
    # each break_condition call takes 3 ms: the line's fall and rise are known
    # only within those windows, so TiniL may be anywhere in 25..31 ms
    clock = FakeClock()
    ser = FakeSerial(clock, latency_us=3000)
    tester = KLineTesterPort(ser, KTesterConfig(tidle_us=0), clock=clock, sleeper=clock.sleep)
    try:
        with pytest.raises(KLineTimingError) as e:
            tester.fast_init(timeout=10.0)
        err = e.value
        assert err.what == "TiniL" and err.nominal_us == 25000 and err.tolerance_us == 1000
        assert err.low_us >= 25000 and err.high_us >= 31000 and err.error_us > 1000
        # refused: the StartCommunication was never sent
        assert ser.writes() == []
        assert not tester.initialised
    finally:
        tester.close()


def test_a_slow_adapter_with_timing_warn_logs_and_goes_on(caplog):
    clock = FakeClock()
    ser = FakeSerial(clock, latency_us=3000)
    tester = KLineTesterPort(ser, KTesterConfig(tidle_us=0), clock=clock, sleeper=clock.sleep,
                             timing="warn")
    try:
        with caplog.at_level(logging.WARNING, logger="diagbridge.cpy.kline.port"):
            with pytest.raises(KLineTimeout) as e:
                tester.fast_init(timeout=10.0)
        # the StartCommunication went out; nobody answered it (no ECU on this fake)
        assert e.value.result == K_TIMEOUT_P2MAX
        assert b"".join(b for _, b in ser.writes()) == b"\x81\x11\xF1\x81\x04"
        assert any("TiniL" in r.getMessage() for r in caplog.records)
        assert not tester.port.patterns[0].ok
    finally:
        tester.close()


def _ecu_port(clock, ser):
    m = KLineEcu(EcuConfig(address=0x11))
    events = []
    port = KLinePort(ser, m, clock=clock, sleeper=clock.sleep, start=False,
                     on_event=lambda ev, now: events.append(ev))
    return m, port, events


def test_ecu_takes_a_uart_break_and_start_communication_as_a_wake_up():
    # a UART reads the 25 ms low as one NUL (a break); StartCommunication
    # starts TWuP after the fall
    clock = FakeClock()
    ser = FakeSerial(clock)
    m, port, events = _ecu_port(clock, ser)
    t0 = clock.elapsed()
    ser.feed_at(t0 + 1000, b"\x00")
    ser.feed_at(t0 + 50962, b"\x81\x11\xF1\x81\x04")
    run_virtual(port, ser, clock, t0 + 200000)
    assert EV_INIT in events and m.initialised
    # the positive response with the key bytes, in the SSF's length-byte form
    assert b"".join(b for _, b in ser.writes()) == b"\x80\xF1\x11\x03\xC1\xEA\x8F\xBF"


def test_ecu_ignores_start_communication_right_after_traffic():
    # not initialised, a StartCommunication 10 ms after another byte cannot
    # follow a wake-up pattern (TWuP is 50 ms): no initialisation, no answer
    clock = FakeClock()
    ser = FakeSerial(clock)
    m, port, events = _ecu_port(clock, ser)
    t0 = clock.elapsed()
    ser.feed_at(t0 + 1000, b"\x55")
    ser.feed_at(t0 + 11000, b"\x81\x11\xF1\x81\x04")
    run_virtual(port, ser, clock, t0 + 200000)
    assert EV_INIT not in events and not m.initialised
    assert ser.writes() == []


def test_ecu_runner_answers_requests_through_the_handler():
    wire = PtyWire(2)
    seen = []

    def handler(req, functional):
        seen.append(req)
        if req[0] == 0x3E:
            raise ValueError("application bug")     # logged, nothing sent
        return echo_answer(req, functional)
    ecu = KLineEcuRunner(wire.names[1], handler, EcuConfig(address=0x11, echo_slack_us=SLACK_US),
                         paced=False)
    tester = KLineTesterPort(wire.names[0], KTesterConfig(tidle_us=0, echo_slack_us=SLACK_US),
                             paced=False, timing="warn")
    try:
        tester.fast_init(timeout=10.0)
        # the handler raised: no answer, the tester repeats (3 transmissions) and fails
        with pytest.raises(KLineTimeout) as e:
            tester.request(b"\x3E\x01", timeout=10.0)
        assert e.value.result == K_TIMEOUT_P2MAX
        assert seen.count(b"\x3E\x01") == 3
        assert tester.request(b"\x1A\x90", timeout=10.0)[:2] == b"\x5A\x90"
    finally:
        close_all(tester, ecu, wire)


def test_bad_port_settings_are_config_errors():
    clock = FakeClock()
    for kw, field in (({"timing": "maybe"}, "timing"), ({"wup": "sometimes"}, "wup"),
                      ({"baudrate": 0}, "baudrate"), ({"spin_us": -1}, "spin_us")):
        with pytest.raises(ConfigError) as e:
            KLinePort(FakeSerial(clock), KLineTester(), start=False, **kw)
        assert str(e.value) == field
    with pytest.raises(ConfigError):
        KTesterConfig(echo_slack_us=20001)
    with pytest.raises(ConfigError):
        EcuConfig(echo_slack_us=-1)


def test_requests_before_init_are_the_callers_mistake():
    clock = FakeClock()
    tester = KLineTesterPort(FakeSerial(clock), KTesterConfig(), clock=clock, sleeper=clock.sleep)
    try:
        from diagbridge.errors import UsageError
        with pytest.raises(UsageError):
            tester.request(b"\x1A\x80")
        with pytest.raises(UsageError):
            tester.request(b"")
    finally:
        tester.close()


def test_an_ecu_event_is_seen_by_the_port_user():
    # EV_REQUEST reaches on_event in the I/O thread; the request bytes are the machine's
    clock = FakeClock()
    ser = FakeSerial(clock)
    m, port, events = _ecu_port(clock, ser)
    t0 = clock.elapsed()
    ser.feed_at(t0 + 1000, b"\x81\x11\xF1\x81\x04")
    ser.feed_at(t0 + 200000, b"\x80\x11\xF1\x02\x1A\x80\x1E")
    run_virtual(port, ser, clock, t0 + 300000)
    assert events.count(EV_INIT) == 1 and events.count(EV_REQUEST) == 1
    assert bytes(m.payload[m.data_off:m.data_off + m.data_len]) == b"\x1A\x80"


def test_a_response_the_link_refuses_is_logged_not_fatal(caplog):
    # key bytes E9 8F allow only the length in the format byte (63 data bytes
    # at most): a 64-byte answer is refused by the core, logged, and the
    # runner goes on serving
    clock = FakeClock()
    ser = FakeSerial(clock)
    runner = KLineEcuRunner(ser, lambda req, f: b"\x5A" + bytes(63),
                            EcuConfig(address=0x11, kb1=0xE9, kb2=0x8F),
                            clock=clock, sleeper=clock.sleep, start=False)
    t0 = clock.elapsed()
    ser.feed_at(t0 + 1000, b"\x81\x11\xF1\x81\x04")
    ser.feed_at(t0 + 200000, b"\x82\x11\xF1\x1A\x80\x1E")
    with caplog.at_level(logging.ERROR, logger="diagbridge.cpy.kline.ecu"):
        run_virtual(runner.port, ser, clock, t0 + 300000)
    assert runner.inits == 1 and len(runner.requests) == 1
    assert any("refused" in r.getMessage() for r in caplog.records)
    # only the StartCommunication response went out
    assert b"".join(b for _, b in ser.writes())[:4] == b"\x83\xF1\x11\xC1"
    assert len(b"".join(b for _, b in ser.writes())) == 7
