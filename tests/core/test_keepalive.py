# The example machine of ARCHITECTURE.md, driven with bytes and virtual time.
from diagbridge.clock import TICKS_PERIOD, ticks_add, ticks_diff
from diagbridge.codes import EV_NONE, OK, A_TIMEOUT_P2, A_NEGATIVE_RESPONSE, A_UNEXPECTED_RESPONSE
from diagbridge.errors import ConfigError, UsageError
from diagbridge.uds.client.keepalive import (KeepAlive, KeepAliveConfig, REQ_START, REQ_STOP, REQ_TOUCH,
                                  EV_SEND, EV_CONFIRMED, EV_FAILED)
from diagbridge.sim.kernel import Kernel
from support import raises, run_locked

T0 = TICKS_PERIOD - 500000      # half a second before the wrap


class _Tester:
    """A sim node: the keep-alive plus a log of what it sent and when."""

    def __init__(self, kernel, ka):
        self.k = kernel
        self.ka = ka
        self.buf = bytearray(8)
        self.sent = []          # (elapsed_us, pdu bytes)
        self.events = []

    def deadline(self):
        return self.ka.deadline()

    def on_timer(self, now):
        self.ka.on_timer(now)
        self.drain()

    def drain(self):
        ev = self.ka.poll()
        while ev != EV_NONE:
            self.events.append((self.k.elapsed_us, ev, self.ka.result))
            if ev == EV_SEND:
                n = self.ka.pop_pdu(self.buf)
                self.sent.append((self.k.elapsed_us, bytes(self.buf[:n])))
            ev = self.ka.poll()


def test_suppressed_keepalive_every_period_across_the_wrap():
    k = Kernel(start=T0)
    t = k.add_node(_Tester(k, KeepAlive(KeepAliveConfig(period_ms=2000))))
    t.ka.request(k.now, REQ_START)
    k.run_for(7000000)
    assert t.sent == [(2000000, b"\x3e\x80"), (4000000, b"\x3e\x80"), (6000000, b"\x3e\x80")]
    assert ticks_diff(k.now, T0) == 7000000 and k.now < T0   # the clock wrapped


def test_touch_restarts_the_period():
    k = Kernel(start=T0)
    t = k.add_node(_Tester(k, KeepAlive(KeepAliveConfig(period_ms=2000))))
    t.ka.request(k.now, REQ_START)
    k.run_for(1500000)
    t.ka.request(k.now, REQ_TOUCH)          # the tester sent some other request
    k.run_for(3000000)
    assert [s[0] for s in t.sent] == [3500000]


def test_stop_cancels_everything():
    k = Kernel(start=T0)
    t = k.add_node(_Tester(k, KeepAlive()))
    t.ka.request(k.now, REQ_START)
    k.run_for(1000)
    t.ka.request(k.now, REQ_STOP)
    assert t.ka.deadline() is None
    assert k.run_until_idle() == 1000 and t.sent == []


def test_unsuppressed_confirmation_in_time():
    k = Kernel(start=T0)
    t = k.add_node(_Tester(k, KeepAlive(KeepAliveConfig(period_ms=1000, suppress_pos_rsp=False))))
    t.ka.request(k.now, REQ_START)
    k.run_for(1000000)
    assert t.sent == [(1000000, b"\x3e\x00")]
    k.run_for(20000)
    t.ka.feed_pdu(k.now, b"\x7e\x00", 2)
    t.drain()
    assert t.events[-1] == (1020000, EV_CONFIRMED, OK)
    # The next period counts from the answer.
    k.run_for(1000000)
    assert t.sent[-1] == (2020000, b"\x3e\x00")


def test_p2_client_expiry_is_exact():
    k = Kernel(start=T0)
    t = k.add_node(_Tester(k, KeepAlive(KeepAliveConfig(period_ms=1000, suppress_pos_rsp=False,
                                                        p2_client_ms=50))))
    t.ka.request(k.now, REQ_START)
    k.run_for(1100000)
    assert t.events[1] == (1050000, EV_FAILED, A_TIMEOUT_P2)
    # A late answer after the failure is ignored: the machine waits for the next period.
    before = len(t.events)
    t.ka.feed_pdu(k.now, b"\x7e\x00", 2)
    t.drain()
    assert len(t.events) == before
    # The next period counts from the expiry.
    k.run_for(1000000)
    assert t.sent[1] == (2050000, b"\x3e\x00")

def test_negative_and_malformed_answers_are_results():
    for rsp, result, nrc in ((b"\x7f\x3e\x12", A_NEGATIVE_RESPONSE, 0x12),
                             (b"\x7e", A_UNEXPECTED_RESPONSE, 0),
                             (b"\x7e\x01", A_UNEXPECTED_RESPONSE, 0),
                             (b"\x62\xf1\x90", A_UNEXPECTED_RESPONSE, 0)):
        ka = KeepAlive(KeepAliveConfig(period_ms=10, suppress_pos_rsp=False))
        now = T0
        ka.request(now, REQ_START)
        now = ka.deadline()
        ka.on_timer(now)
        assert ka.poll() == EV_SEND
        ka.feed_pdu(now, rsp, len(rsp))
        assert ka.poll() == EV_FAILED
        assert ka.result == result and ka.nrc == nrc
        assert ka.deadline() == ticks_add(now, 10000)


def test_misuse_raises_usage_and_config_errors():
    assert raises(ConfigError, KeepAliveConfig, 0)
    assert raises(ConfigError, KeepAliveConfig, 1000, True, 0)
    ka = KeepAlive()
    assert raises(UsageError, ka.request, T0, 99)
    ka.request(T0, REQ_START)
    ka.on_timer(ka.deadline())
    assert raises(UsageError, ka.pop_pdu, bytearray(1))


def test_every_state_and_input_is_defined():
    # h2-style: every (state, input) pair either moves the machine or is ignored,
    # never crashes, and leaves timers consistent with the state.
    inputs = ("start", "stop", "touch", "period", "rsp", "p2")
    for setup in ("idle", "armed", "wait"):
        for inp in inputs:
            ka = KeepAlive(KeepAliveConfig(period_ms=10, suppress_pos_rsp=False, p2_client_ms=5))
            now = T0
            if setup != "idle":
                ka.request(now, REQ_START)
            if setup == "wait":
                now = ka.deadline()
                ka.on_timer(now)
            if inp == "start":
                ka.request(now, REQ_START)
            elif inp == "stop":
                ka.request(now, REQ_STOP)
            elif inp == "touch":
                ka.request(now, REQ_TOUCH)
            elif inp == "rsp":
                ka.feed_pdu(now, b"\x7e\x00", 2)
            else:
                d = ka.deadline()
                if d is not None:
                    ka.on_timer(d)
            if ka.state == 0:
                assert ka.deadline() is None
            else:
                assert ka.deadline() is not None


def test_steady_state_does_not_allocate():
    ka = KeepAlive(KeepAliveConfig(period_ms=5))
    buf = bytearray(8)
    ka.request(T0, REQ_START)
    out = [0]

    def hot():
        n = 0
        for _ in range(20):
            now = ka.deadline()
            ka.on_timer(now)
            if ka.poll() == EV_SEND:
                n += ka.pop_pdu(buf)
            ka.request(now, REQ_TOUCH)
        out[0] = n
    run_locked(hot)
    assert out[0] == 40 and buf[0] == 0x3E and buf[1] == 0x80
