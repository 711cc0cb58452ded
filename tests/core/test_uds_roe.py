# ResponseOnEvent (0x86) on the real server, byte-exact and in virtual time
# (ISO 14229-1 §10.9, uds-digest §10.8).  The request/response tables are not
# in the provided text: layouts are ISO 14229-1:2020's (py-uds agrees).
from diagbridge.clock import ticks_add, ticks_diff
from diagbridge.uds.server.services import data as srv_data
from diagbridge.uds.server.services import dtc as srv_dtc
from diagbridge.uds.server.services import roe as srv_roe
from diagbridge.uds.server.services import session as srv_session
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.core import UdsServer

T0 = 0x1FFF0000             # 65.5 ms before the tick wrap: every test crosses it
_BUF = bytearray(4095)
A = 0x12A104
B = 0x0D0E0F
MV = [0]                    # the live measurement of DID 0x0104


def h(s):
    return bytes(int(x, 16) for x in s.split())


def hexs(b):
    return " ".join("%02X" % x for x in b)


def _mv(srv, did):
    # 14-byte record; the measurement is a signed 16-bit word at bit 88 (§10.9.5.4)
    rec = bytearray(14)
    v = MV[0] & 0xFFFF
    rec[11] = v >> 8
    rec[12] = v & 0xFF
    return bytes(rec)


def _server(nvm=None, roe=None, queue=8):
    raw = {"sessions": {1: {}, 3: {}},
           "dids": {0x0104: {"length": 14, "live": "mv"},
                    0xF190: {"length": 3, "value": b"VIN"}},
           "dtcs": [{"code": A, "status": 0x50, "extended": {0x12: b"\x34"}},
                    {"code": B, "status": 0x50}],
           "roe": roe or {"windows_ms": {3: 1000}, "scheduler_ms": 50, "queue": queue}}
    s = UdsServer(Profile(raw, {"mv": _mv}), nvm=nvm if nvm is not None else MemNvm(),
                  specs=[srv_session.SPECS, srv_data.SPECS, srv_dtc.SPECS, srv_roe.SPECS])
    s.power_up(T0)
    MV[0] = 0
    return s


class Clock:
    def __init__(self):
        self.now = T0


def _ask(s, c, req):
    b = h(req)
    s.feed_pdu(c.now, b, len(b), False)
    n = s.pop_pdu(_BUF)
    return hexs(_BUF[:n]) if n else None


def _run(s, c, us):
    """Advance us microseconds; every PDU out as (ms since the start of the
    run, hex)."""
    start = c.now
    end = ticks_add(start, us)
    out = []
    while True:
        d = s.deadline()
        if d is None or ticks_diff(d, end) > 0:
            break
        if ticks_diff(d, c.now) > 0:
            c.now = d
        s.on_timer(c.now)
        while True:
            n = s.pop_pdu(_BUF)
            if not n:
                break
            out.append((ticks_diff(c.now, start) // 1000, hexs(_BUF[:n])))
    c.now = end
    return out


def _setup_dtc_event(s, c, window="02"):
    assert _ask(s, c, "86 01 %s 09 19 02 09" % window) == "C6 01 00 %s 09 19 02 09" % window
    assert _ask(s, c, "86 05 %s" % window) == "C6 05 00 %s" % window


# ---- onDTCStatusChange ---------------------------------------------------------------
def test_dtc_status_change_runs_the_service_at_the_next_scheduler_call():
    s = _server()
    c = Clock()
    _setup_dtc_event(s, c)
    assert _run(s, c, 120000) == []
    s.dtc_store.report_test_result(c.now, A, True)     # at 120 ms
    # scheduler ticks at 50, 100, 150 ms: seen at 150 ms (sample points only)
    assert _run(s, c, 100000) == [(30, "59 02 FF 12 A1 04 2F")]
    s.dtc_store.report_test_result(c.now, A, False)    # TF 1->0: masked bit changed, CDTC set
    assert _run(s, c, 100000) == [(30, "59 02 FF 12 A1 04 2E")]
    assert _run(s, c, 200000) == []


def test_one_event_response_per_scheduler_call():
    s = _server()
    c = Clock()
    _setup_dtc_event(s, c)
    s.dtc_store.report_test_result(c.now, A, True)
    s.dtc_store.report_test_result(c.now, B, True)
    assert _run(s, c, 120000) == [(50, "59 02 FF 12 A1 04 2F 0D 0E 0F 2F"),
                                  (100, "59 02 FF 12 A1 04 2F 0D 0E 0F 2F")]


def test_finite_window_final_response_and_no_final_after_stop():
    s = _server()
    c = Clock()
    _setup_dtc_event(s, c, "03")                       # short = 1000 ms in this profile
    s.dtc_store.report_test_result(c.now, A, True)
    out = _run(s, c, 1100000)
    assert out == [(50, "59 02 FF 12 A1 04 2F"), (1000, "C6 01 01 03 09 19 02 09")]
    s.dtc_store.report_test_result(c.now, B, True)
    assert _run(s, c, 200000) == []                    # window closed
    assert _ask(s, c, "86 05 03") == "C6 05 00 03"
    assert _ask(s, c, "86 00 03") == "C6 00 00 03"
    assert _run(s, c, 2000000) == []                   # stopped: no final (§10.9.1 i)


def test_report_activated_events_and_clear():
    s = _server()
    c = Clock()
    assert _ask(s, c, "86 04 02") == "C6 04 00"
    _setup_dtc_event(s, c)
    assert _ask(s, c, "86 03 02 F1 90 22 F1 90") == "C6 03 00 02 F1 90 22 F1 90"
    assert _ask(s, c, "86 04 02") == "C6 04 02 01 02 09 19 02 09 03 02 F1 90 22 F1 90"
    assert _ask(s, c, "86 06 02") == "C6 06 00 02"
    assert _ask(s, c, "86 04 02") == "C6 04 00"
    assert _ask(s, c, "86 05 02") == "7F 86 24"        # nothing to start
    s.dtc_store.report_test_result(c.now, A, True)
    assert _run(s, c, 200000) == []


# ---- onChangeOfDataIdentifier / onComparisonOfValues ----------------------------------
def test_change_of_data_identifier():
    s = _server()
    c = Clock()
    assert _ask(s, c, "86 03 02 01 04 22 01 04") == "C6 03 00 02 01 04 22 01 04"
    assert _ask(s, c, "86 05 02") == "C6 05 00 02"
    assert _run(s, c, 100000) == []                    # baseline at 50 ms, unchanged at 100
    MV[0] = 0x1234
    out = _run(s, c, 50000)
    assert out == [(50, "62 01 04 00 00 00 00 00 00 00 00 00 00 00 12 34 00")]
    assert _run(s, c, 200000) == []


def test_comparison_of_values_example3_with_hysteresis():
    # §10.9.5.4: DID 0x0104, localisation 0xBC58 (signed, 16 bits, bit 88),
    # operator 01 "MV > CP", CP = 5242, hysteresis 10 %, infinite window.
    s = _server()
    c = Clock()
    rec = "01 04 01 00 00 14 7A 0A BC 58"
    assert _ask(s, c, "86 07 02 %s 22 01 04" % rec) == "C6 07 00 02 %s 22 01 04" % rec
    assert _ask(s, c, "86 05 02") == "C6 05 00 02"
    MV[0] = 5000
    assert _run(s, c, 100000) == []
    MV[0] = 5300
    out = _run(s, c, 50000)
    assert len(out) == 1 and out[0][1].endswith("14 B4 00")
    MV[0] = 5000                                       # above 90 % of CP: not re-armed
    assert _run(s, c, 50000) == []
    MV[0] = 5300
    assert _run(s, c, 50000) == []
    MV[0] = 4700                                       # below 4717.8: re-armed
    assert _run(s, c, 50000) == []
    MV[0] = 5243
    out = _run(s, c, 50000)
    assert len(out) == 1 and out[0][1].endswith("14 7B 00")


# ---- 08 / 09: DTC record reports ------------------------------------------------------------
def test_most_recent_dtc_on_status_change_example4():
    s = _server()
    c = Clock()
    assert _ask(s, c, "86 08 02 0D") == "C6 08 00 02 0D"
    assert _ask(s, c, "86 05 02") == "C6 05 00 02"
    s.dtc_store.report_test_result(c.now, B, True)
    assert _run(s, c, 60000) == [(50, "59 0D FF 0D 0E 0F 2F")]
    s.dtc_store.report_test_result(c.now, B, False)    # TF 1->0: no event for 0D
    assert _run(s, c, 100000) == []


def test_most_recent_dtc_queue_overflow_reports_ff():
    s = _server(queue=1)
    c = Clock()
    _ask(s, c, "86 08 02 0D")
    _ask(s, c, "86 05 02")
    s.dtc_store.report_test_result(c.now, A, True)
    s.dtc_store.report_test_result(c.now, B, True)     # two changes, room for one
    assert _run(s, c, 120000) == [(50, "C6 08 FF 02 0D")]   # resync with 19 02 (§10.9.2.2.3)


def test_dtc_record_information_on_status_change_example4b():
    # §10.9.5.5: confirmed bit, extended record 0x12; DTC 12A104 confirmed ->
    # the result of 19 06 12 A1 04 12.
    s = _server()
    c = Clock()
    assert _ask(s, c, "86 09 02 08 06 12") == "C6 09 00 02 08 06 12"
    assert _ask(s, c, "86 05 02") == "C6 05 00 02"
    s.dtc_store.report_test_result(c.now, A, True)
    assert _run(s, c, 60000) == [(50, "59 06 12 A1 04 2F 12 34")]


# ---- sessions, storage, busy -----------------------------------------------------------
def test_non_default_session_stops_and_default_restarts():
    s = _server()
    c = Clock()
    _setup_dtc_event(s, c)
    assert _ask(s, c, "10 03") == "50 03 00 32 01 F4"
    s.dtc_store.report_test_result(c.now, A, True)
    assert _run(s, c, 200000) == []                    # stopped (§10.9.1 e)
    assert _ask(s, c, "10 01") == "50 01 00 32 01 F4"
    s.dtc_store.report_test_result(c.now, B, True)     # restarted: new baseline
    assert _run(s, c, 60000) == [(50, "59 02 FF 12 A1 04 2F 0D 0E 0F 2F")]


def test_started_in_non_default_does_not_restart():
    s = _server()
    c = Clock()
    _ask(s, c, "10 03")
    _setup_dtc_event(s, c)
    _ask(s, c, "10 03")                                # even the same session stops it
    _ask(s, c, "10 01")
    s.dtc_store.report_test_result(c.now, A, True)
    assert _run(s, c, 200000) == []
    assert _ask(s, c, "86 04 02") == "C6 04 00"


def test_stored_event_survives_power_cycle_and_needs_infinite_window():
    nvm = MemNvm()
    s = _server(nvm)
    c = Clock()
    assert _ask(s, c, "86 41 03 09 19 02 09") == "7F 86 31"   # store needs infinite
    assert _ask(s, c, "86 41 02 09 19 02 09") == "C6 41 00 02 09 19 02 09"
    assert _ask(s, c, "86 03 02 F1 90 22 F1 90") == "C6 03 00 02 F1 90 22 F1 90"
    assert _ask(s, c, "86 05 02") == "C6 05 00 02"
    s2 = _server(nvm.power_cycle())
    c2 = Clock()
    assert _ask(s2, c2, "86 04 02") == "C6 04 01 41 02 09 19 02 09"   # the unstored one is gone
    s2.dtc_store.report_test_result(c2.now, A, True)
    assert _run(s2, c2, 60000) == [(50, "59 02 FF 12 A1 04 2F")]


def test_event_response_waits_for_a_pending_response():
    s = _server()
    c = Clock()
    _setup_dtc_event(s, c)
    s.dtc_store.report_test_result(c.now, A, True)
    c.now = ticks_add(c.now, 50000)
    b = h("22 F1 90")
    s.feed_pdu(c.now, b, 3, False)                     # its response is not popped yet
    s.on_timer(c.now)                                  # the scheduler finds the event
    n = s.pop_pdu(_BUF)
    assert hexs(_BUF[:n]) == "62 F1 90 56 49 4E"       # the request's response first
    n = s.pop_pdu(_BUF)
    assert hexs(_BUF[:n]) == "59 02 FF 12 A1 04 2F"
    assert s.pop_pdu(_BUF) == 0


# ---- NRCs and their order ---------------------------------------------------------------
def test_nrcs_and_check_order():
    s = _server()
    c = Clock()
    assert _ask(s, c, "86 02 02") == "7F 86 12"        # onTimerInterrupt removed in 2020
    assert _ask(s, c, "86 0A 02") == "7F 86 12"
    assert _ask(s, c, "86 02") == "7F 86 12"           # unsupported SF before length
    assert _ask(s, c, "86 05") == "7F 86 13"
    assert _ask(s, c, "86 05 02 00") == "7F 86 13"
    assert _ask(s, c, "86 01 02") == "7F 86 13"        # no DTCStatusMask
    assert _ask(s, c, "86 01 02 09") == "7F 86 13"     # no serviceToRespondTo
    assert _ask(s, c, "86 01 09 09") == "7F 86 13"     # length before the window
    assert _ask(s, c, "86 01 09 09 19 02 09") == "7F 86 31"   # reserved window
    assert _ask(s, c, "86 01 02 09 12 00") == "7F 86 31"      # service not served
    assert _ask(s, c, "86 01 02 09 86 05 02") == "7F 86 31"   # no ROE in ROE
    assert _ask(s, c, "86 03 02 F2 00 22 F2 00") == "7F 86 31"  # DDDI excluded
    assert _ask(s, c, "86 03 02 12 34 22 12 34") == "7F 86 31"  # unknown DID
    assert _ask(s, c, "86 07 02 01 04 05 00 00 14 7A 0A BC 58 22 01 04") == "7F 86 31"
    assert _ask(s, c, "86 08 02 0C") == "7F 86 31"
    assert _ask(s, c, "86 08 02 0D 19") == "7F 86 13"
    assert _ask(s, c, "86 09 02 08 02 12") == "7F 86 31"
    assert _ask(s, c, "86 85 02") == "7F 86 24"        # NR despite SPRMIB
    assert _ask(s, c, "86 81 02 09 19 02 09") is None  # SPRMIB: no positive response
    assert _ask(s, c, "86 04 02") == "C6 04 00"        # set up, not started


def test_too_many_events_is_31():
    s = _server(roe={"max_events": 2})
    c = Clock()
    assert _ask(s, c, "86 01 02 01 19 02 01") == "C6 01 00 02 01 19 02 01"
    assert _ask(s, c, "86 01 02 02 19 02 02") == "C6 01 00 02 02 19 02 02"
    assert _ask(s, c, "86 01 02 01 19 02 08") == "C6 01 00 02 01 19 02 08"   # same record: replaced
    assert _ask(s, c, "86 01 02 04 19 02 04") == "7F 86 31"


def test_s3_timeout_returns_to_default_and_restarts_default_events():
    s = _server()
    c = Clock()
    _setup_dtc_event(s, c)
    assert _ask(s, c, "10 03") == "50 03 00 32 01 F4"
    s.dtc_store.report_test_result(c.now, A, True)
    # S3_server = 5000 ms after the last request: the session falls back to
    # default there and the default-session events restart (§10.9.1 e).
    assert _run(s, c, 4999000) == []
    assert s.session == 3
    assert _run(s, c, 1000) == []
    assert s.session == 1
    s.dtc_store.report_test_result(c.now, B, True)
    assert _run(s, c, 60000) == [(50, "59 02 FF 12 A1 04 2F 0D 0E 0F 2F")]
