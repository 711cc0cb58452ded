# UdsClient alone, driven with bytes and virtual time: P2 / P2* to the
# microsecond across the tick wrap, 0x78 chains without re-sending, the
# pending limit, suppressed requests, NRCs as data, misbehaving answers
# (late, wrong SID, another request's answer, truncated), the S3 keep-alive
# cadence, every (state, input) pair, and the allocation-free round trip.
from diagbridge.clock import TICKS_PERIOD, ticks_add, ticks_diff
from diagbridge.codes import (EV_NONE, OK, A_TIMEOUT_P2, A_NEGATIVE_RESPONSE, A_PENDING_LIMIT,
                              A_MALFORMED_RESPONSE, N_TIMEOUT_CR, N_TIMEOUT_A)
from diagbridge.errors import ConfigError, UsageError
from diagbridge.uds.client.core import (UdsClient, UdsClientConfig, EV_SEND, EV_DONE, EV_PENDING,
                                   EV_UNEXPECTED, EV_KEEPALIVE_FAILED, S_IDLE, S_QUEUED,
                                   S_SENDING, S_WAIT, S_RECEIVING, N_STATES, match, M_POSITIVE,
                                   M_NEGATIVE, M_PENDING, M_MALFORMED, M_OTHER, suppressed)
from diagbridge.uds.nrc_names import nrc_name
from support import raises, run_locked

T0 = TICKS_PERIOD - 100000      # 100 ms before the wrap
VIN = b"W0L000043MB541326"


def events(c):
    out = []
    ev = c.poll()
    while ev != EV_NONE:
        out.append(ev)
        ev = c.poll()
    return out


def send(c, hexs, now=T0, functional=False):
    """request + pop + sent at `now`; returns the popped bytes."""
    data = bytes.fromhex(hexs)
    c.request(now, data, len(data), functional)
    buf = bytearray(64)
    n = c.pop_pdu(buf)
    c.sent(now)
    return bytes(buf[0:n])


def feed(c, hexs, now):
    data = bytes.fromhex(hexs)
    c.feed_pdu(now, data, len(data))


def test_round_trip_and_p2_expiry_exact_across_the_wrap():
    c = UdsClient()
    assert send(c, "22 F1 90") == b"\x22\xf1\x90"
    assert events(c) == [EV_SEND]
    assert c.deadline() == ticks_add(T0, 150000)        # P2_client default
    c.on_timer(ticks_add(T0, 149999))
    assert events(c) == [] and c.busy()
    c.on_timer(ticks_add(T0, 150000))                   # after the wrap
    assert events(c) == [EV_DONE] and c.result == A_TIMEOUT_P2 and not c.busy()
    send(c, "22 F1 90")
    events(c)
    rsp = b"\x62\xf1\x90" + VIN
    c.feed_pdu(ticks_add(T0, 5000), rsp, len(rsp))
    assert events(c) == [EV_DONE] and c.result == OK
    assert bytes(c.payload[0:c.length]) == rsp


def test_a_per_request_timeout_replaces_p2_and_floors_p2star_for_that_request_only():
    c = UdsClient(UdsClientConfig(p2_client_ms=100, p2star_client_ms=2000))
    buf = bytearray(64)
    data = bytes.fromhex("31 01 FF 00")
    c.request(T0, data, len(data), False, 3000)           # a routine known to run 3 s
    c.pop_pdu(buf)
    c.sent(T0)
    events(c)
    assert c.deadline() == ticks_add(T0, 3000000)       # its P2, not the session's 100 ms
    t = ticks_add(T0, 2500000)
    feed(c, "7F 31 78", t)
    assert events(c) == [EV_PENDING]
    assert c.deadline() == ticks_add(t, 3000000)        # P2* floored at the same 3 s
    c.on_timer(ticks_add(t, 3000000))
    assert events(c) == [EV_DONE] and c.result == A_TIMEOUT_P2
    send(c, "22 F1 90")                                 # the next request: the session's
    events(c)
    assert c.deadline() == ticks_add(T0, 100000)
    c.cancel()
    for bad in (-1, 600001, "5"):
        assert raises(UsageError, c.request, T0, data, len(data), False, bad)
    assert not c.busy()


def test_response_pending_chain_extends_to_p2star_without_resending():
    c = UdsClient(UdsClientConfig(p2_client_ms=100, p2star_client_ms=2000))
    send(c, "31 01 FF 00 44 00 01 00 00 00 10 00 00")
    events(c)
    buf = bytearray(64)
    t = T0
    for i in range(5):
        t = ticks_add(t, 90000 if i == 0 else 1900000)
        feed(c, "7F 31 78", t)
        assert events(c) == [EV_PENDING] and c.pending == i + 1
        assert c.deadline() == ticks_add(t, 2000000)
        assert c.pop_pdu(buf) == 0                      # nothing sent again
    c.on_timer(ticks_add(t, 1999999))
    assert events(c) == []
    feed(c, "71 01 FF 00 00", ticks_add(t, 1999999))
    assert events(c) == [EV_DONE] and c.result == OK and c.pending == 5


def test_pending_forever_is_bounded_by_the_limit():
    c = UdsClient(UdsClientConfig(max_pending=3))
    send(c, "10 02")
    events(c)
    t = T0
    for i in range(3):
        t = ticks_add(t, 1000)
        feed(c, "7F 10 78", t)
    assert events(c) == [EV_PENDING] * 3
    feed(c, "7F 10 78", ticks_add(t, 1000))
    assert events(c) == [EV_DONE] and c.result == A_PENDING_LIMIT and c.nrc == 0x78
    # without a limit, a server that stops after its 0x78s times out after P2*
    c = UdsClient(UdsClientConfig(p2star_client_ms=5100))
    send(c, "10 02")
    feed(c, "7F 10 78", ticks_add(T0, 40000))
    events(c)
    c.on_timer(ticks_add(T0, 40000 + 5100000))
    assert events(c) == [EV_DONE] and c.result == A_TIMEOUT_P2


def test_negative_responses_are_data_with_their_names():
    c = UdsClient()
    send(c, "22 12 34")
    feed(c, "7F 22 31", ticks_add(T0, 3000))
    assert events(c)[-1] == EV_DONE
    assert c.result == A_NEGATIVE_RESPONSE and c.nrc == 0x31 and nrc_name(c.nrc) == "ROOR"
    assert c.length == 0


def test_suppressed_and_functional_requests_expect_nothing():
    c = UdsClient()
    assert suppressed(b"\x3e\x80", 2) and not suppressed(b"\x22\xf1\x90", 3)
    send(c, "10 83")
    assert events(c) == [EV_SEND, EV_DONE] and c.result == OK and c.length == 0
    assert c.deadline() is None
    feed(c, "7F 10 22", ticks_add(T0, 1000))            # a late NRC: reported, no crash
    assert events(c) == [EV_UNEXPECTED] and c.unexpected == 1
    send(c, "22 F1 90", functional=True)
    assert c.tx_functional and events(c) == [EV_SEND, EV_DONE]


def test_wrong_sid_other_request_and_truncated_answers():
    c = UdsClient()
    send(c, "22 F1 90")
    events(c)
    feed(c, "50 03 00 32 01 F4", ticks_add(T0, 1000))    # wrong SID
    feed(c, "62 F1 91 41 42", ticks_add(T0, 2000))       # the answer to another DID
    feed(c, "7F 2E 31", ticks_add(T0, 3000))             # an NRC for another SID
    feed(c, "7F 22", ticks_add(T0, 4000))                # a cut 7F
    assert events(c) == [EV_UNEXPECTED] * 4 and c.busy()
    assert bytes(c.stray[0:c.stray_len]) == b"\x7f\x22" and c.stray_total == 2
    feed(c, "62 F1", ticks_add(T0, 5000))                # right SID, cut short
    assert events(c) == [EV_DONE] and c.result == A_MALFORMED_RESPONSE
    # the echo rules
    assert match(b"\x31\x81\xff\x00", 4, b"\x71\x01\xff\x00", 4) == M_POSITIVE
    assert match(b"\x31\x01\xff\x00", 4, b"\x71\x01\xff\x01", 4) == M_OTHER
    assert match(b"\x36\x05", 2, b"\x76\x04", 2) == M_OTHER
    assert match(b"\x36\x05", 2, b"\x7f\x36\x78", 3) == M_PENDING
    assert match(b"\x36\x05", 2, b"\x7f\x36\x73", 3) == M_NEGATIVE
    assert match(b"\x27\x01", 2, b"\x67", 1) == M_MALFORMED


def test_late_answer_after_timeout_is_reported_not_taken():
    c = UdsClient(UdsClientConfig(p2_client_ms=50))
    send(c, "22 F1 90")
    c.on_timer(ticks_add(T0, 50000))
    assert events(c)[-1] == EV_DONE and c.result == A_TIMEOUT_P2
    rsp = b"\x62\xf1\x90" + VIN
    c.feed_pdu(ticks_add(T0, 60000), rsp, len(rsp))
    assert events(c) == [EV_UNEXPECTED] and c.stray_total == 20
    send(c, "22 F1 8C", ticks_add(T0, 70000))           # the next request is clean
    feed(c, "62 F1 8C 41", ticks_add(T0, 71000))
    assert events(c)[-1] == EV_DONE and c.result == OK and c.length == 4


def test_transport_results_end_the_request():
    c = UdsClient()
    data = b"\x22\xf1\x90"
    c.request(T0, data, 3)
    c.pop_pdu(bytearray(8))
    c.sent(T0, N_TIMEOUT_A)
    assert events(c)[-1] == EV_DONE and c.result == N_TIMEOUT_A
    send(c, "22 F1 90")
    c.rx_started(ticks_add(T0, 1000))                   # FF: P2 stops
    assert c.deadline() is None
    c.rx_failed(ticks_add(T0, 1001000), N_TIMEOUT_CR)
    assert events(c)[-1] == EV_DONE and c.result == N_TIMEOUT_CR


def test_session_response_sets_timing_and_starts_keepalive_cadence():
    c = UdsClient()
    send(c, "10 03")
    t = ticks_add(T0, 2000)
    feed(c, "50 03 00 19 00 64", t)                     # P2 25 ms, P2* 1000 ms
    assert events(c)[-1] == EV_DONE and c.session == 3
    assert c.p2_us == 125000 and c.p2star_us == 1100000
    buf = bytearray(8)
    sends = []
    for _ in range(4):
        d = c.deadline()
        c.on_timer(d)
        assert events(c) == [EV_SEND]
        n = c.pop_pdu(buf)
        c.sent(d)
        sends.append((ticks_diff(d, t), bytes(buf[0:n])))
    assert sends == [(2000000 * (i + 1), b"\x3e\x80") for i in range(4)]
    # a request restarts the quiet period; its answer too
    t2 = ticks_add(t, 8500000)
    send(c, "22 F1 90", t2)
    feed(c, "62 F1 90 41", ticks_add(t2, 10000))
    assert c.deadline() == ticks_add(t2, 10000 + 2000000)
    send(c, "10 01", ticks_add(t2, 20000))
    feed(c, "50 01 00 32 01 F4", ticks_add(t2, 21000))
    events(c)
    assert c.deadline() is None and c.session == 1


def test_unsuppressed_keepalive_answer_goes_to_the_keepalive():
    c = UdsClient(UdsClientConfig(keepalive_suppress=False, keepalive_period_ms=100))
    c.keep_alive(T0, True)
    d = c.deadline()
    c.on_timer(d)
    buf = bytearray(8)
    assert c.pop_pdu(buf) == 2 and buf[0:2] == b"\x3e\x00"
    c.sent(d)
    feed(c, "7E 00", ticks_add(d, 1000))
    assert events(c) == [EV_SEND] and c.unexpected == 0
    d = c.deadline()
    c.on_timer(d)
    c.pop_pdu(buf)
    c.sent(d)
    c.on_timer(ticks_add(d, 150000))                    # no answer within P2
    assert events(c) == [EV_SEND, EV_KEEPALIVE_FAILED] and c.ka_result == A_TIMEOUT_P2


def test_misuse_and_config_errors():
    c = UdsClient()
    send(c, "22 F1 90")
    assert raises(UsageError, c.request, T0, b"\x3e\x00", 2)
    assert raises(UsageError, UdsClient().request, T0, b"", 0)
    assert raises(UsageError, UdsClient().pop_pdu, bytearray(1)) is False   # nothing queued
    c2 = UdsClient()
    c2.request(T0, b"\x22\xf1\x90", 3)
    assert raises(UsageError, c2.pop_pdu, bytearray(1))
    assert raises(ConfigError, UdsClientConfig, 0)
    assert raises(ConfigError, UdsClientConfig, 150, 5000, 50, 50, True, -1)


def _into(state):
    c = UdsClient(UdsClientConfig(keepalive=False))
    if state >= S_QUEUED:
        c.request(T0, b"\x22\xf1\x90", 3)
    if state >= S_SENDING:
        c.pop_pdu(bytearray(8))
    if state >= S_WAIT:
        c.sent(T0)
    if state == S_RECEIVING:
        c.rx_started(T0)
    assert c.state == state
    return c


def test_every_state_and_input_is_defined():
    pdus = (b"\x62\xf1\x90\x41", b"\x7f\x22\x78", b"\x7f\x22\x31", b"\x62\xf1", b"\x50\x01")
    for s in range(N_STATES):
        for inp in range(10):
            c = _into(s)
            now = ticks_add(T0, 1000)
            try:
                if inp == 0:
                    c.request(now, b"\x3e\x00", 2)
                elif inp == 1:
                    c.pop_pdu(bytearray(8))
                elif inp == 2:
                    c.sent(now)
                elif inp == 3:
                    c.sent(now, N_TIMEOUT_A)
                elif inp < 9:
                    c.feed_pdu(now, pdus[inp - 4], len(pdus[inp - 4]))
                else:
                    d = c.deadline()
                    if d is not None:
                        c.on_timer(d)
            except UsageError:
                assert (inp == 0 and s != S_IDLE) or (inp in (2, 3) and s in (S_QUEUED,))
                continue
            events(c)
            # timers agree with the state
            if c.state == S_WAIT:
                assert c.deadline() is not None
            if c.state in (S_IDLE, S_QUEUED, S_SENDING, S_RECEIVING):
                assert c.deadline() is None


def test_keepalive_and_rdbi_round_trip_do_not_allocate():
    c = UdsClient(UdsClientConfig(keepalive_period_ms=5))
    buf = bytearray(64)
    req = b"\x22\xf1\x90"
    rsp = b"\x62\xf1\x90" + VIN
    c.keep_alive(T0, True)
    out = [0, 0]

    def hot():
        got = 0
        for _ in range(10):
            now = c.deadline()
            c.on_timer(now)
            c.poll()
            got += c.pop_pdu(buf)           # 3E 80
            c.sent(now)
            c.request(now, req, 3)
            c.poll()
            c.pop_pdu(buf)
            c.sent(now)
            c.feed_pdu(now, rsp, 20)
            if c.poll() == EV_DONE and c.result == OK:
                out[1] += c.length
        out[0] = got
    run_locked(hot)
    assert out == [20, 200]


def test_cancel_forgets_the_outstanding_request():
    from diagbridge.uds.client.core import UdsClient as _Client, EV_SEND as _SEND
    c = _Client()
    out = bytearray(16)
    c.request(0, b"\x22\xF1\x90", 3)
    assert c.poll() == _SEND and c.pop_pdu(out) == 3 and c.busy()
    c.sent(10)
    assert c.deadline() is not None
    c.cancel()
    assert not c.busy() and c.deadline() is None and c.poll() == 0
    c.sent(20)                              # a late confirmation: ignored
    assert not c.busy()
    c.request(30, b"\x3E\x00", 2)           # the next request starts clean
    assert c.pop_pdu(out) == 2 and out[0] == 0x3E
