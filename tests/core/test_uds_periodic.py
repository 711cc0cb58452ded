# ReadDataByPeriodicIdentifier 0x2A (ISO 14229-1 §11.5, uds-digest §10.6,
# vector V34) on the real server: the initial 6A, periodic `PDID data`
# messages without a SID at the exact virtual-time cadence, stop, reschedule,
# limits, DDDIDs as PDIDs, session effects, the NRC order.  transmissionMode
# values and Tables 218-223 are ISO 14229-1:2020 (not in provided text).
from diagbridge.clock import ticks_add
from diagbridge.codes import EV_NONE
from diagbridge.errors import ConfigError
from diagbridge.uds.server.services import periodic as srv_periodic
from diagbridge.uds.server.services import dddid as srv_dddid
from diagbridge.uds.codec.periodic import (build_rdbpi_request, parse_rdbpi_response,
                                           parse_periodic_message, pdid_did)
from support import raises, run_locked
from test_uds_server import Ecu, make_profile, unlock, MY_SPECS, _slow_spec

SPECS = MY_SPECS + [srv_periodic.SPECS, srv_dddid.SPECS]
BARO = [0x64]


def _ecu(conditions=None, specs=SPECS, **periodic):
    p = make_profile()
    # §11.5.5: PDID E3 (coolant, throttle, rpm, speed) and 24 (battery, MAP, ...)
    p["dids"][0xF2E3] = {"length": 4, "value": b"\x5A\x10\x0D\x48"}
    p["dids"][0xF224] = {"length": 2, "live": "baro"}
    p["dids"][0xF250] = {"length": 1, "value": b"\x50", "read": {"levels": [1]}}
    p["dids"][0xF260] = {"length": 1, "value": b"\x60", "read": {"sessions": [0x40]}}
    p["periodic"] = {"slow_ms": 1000, "medium_ms": 300, "fast_ms": 25}
    for k in periodic:
        p["periodic"][k] = periodic[k]
    BARO[0] = 0x64
    return Ecu(p, specs=specs, conditions=conditions,
               sources={"baro": lambda srv, did: BARO[0]})


def _since(e, mark):
    return [s for s in e.sent[mark:]]


def test_codec():
    out = bytearray(8)
    n = build_rdbpi_request(out, 2, (0xE3, 0x24))
    assert bytes(out[:n]) == b"\x2A\x02\xE3\x24"
    assert parse_rdbpi_response(b"\x6A", 1)
    assert not parse_rdbpi_response(b"\x6A\x00", 2)
    assert parse_periodic_message(b"\xE3\x01\x02", 3) == (0xE3, b"\x01\x02")
    assert pdid_did(0xE3) == 0xF2E3


def test_v34_stop_sending_answers_the_sid_only():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("2A 04") == "6A"


def test_medium_rate_cadence_is_exact():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    mark = len(e.sent)
    assert e.req("2A 02 E3 24") == ["6A", "E3 5A 10 0D 48", "24 00 64"]
    BARO[0] = 0x65                                  # live data is read at each send
    e.advance(950000)
    assert _since(e, mark + 3) == [
        (300000, "E3 5A 10 0D 48"), (300000, "24 00 65"),
        (600000, "E3 5A 10 0D 48"), (600000, "24 00 65"),
        (900000, "E3 5A 10 0D 48"), (900000, "24 00 65")]


def test_stop_one_then_all():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    e.req("2A 02 E3 24")
    e.advance(100000)
    assert e.one("2A 04 E3") == "6A"                # §11.5.5.2.3: E3 only
    mark = len(e.sent)
    e.advance(500000)
    assert _since(e, mark) == [(300000, "24 00 64"), (600000, "24 00 64")]
    assert e.one("2A 04") == "6A"
    mark = len(e.sent)
    e.advance(2000000)
    assert e.sent[mark:] == []


def test_fast_rate_over_one_second_and_reschedule():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    e.req("2A 03 E3")
    mark = len(e.sent)
    e.advance(1000000)
    times = [t for t, _ in e.sent[mark:]]
    assert times == [25000 * k for k in range(1, 41)]
    assert e.req("2A 01 E3") == ["6A", "E3 5A 10 0D 48"]   # a new mode reschedules
    mark = len(e.sent)
    e.advance(2500000)
    assert [t for t, _ in e.sent[mark:]] == [2000000, 3000000]


def test_too_many_pdids_schedules_nothing():
    e = _ecu(max_pdids=2)
    assert e.one("10 03").startswith("50 03")
    assert e.req("2A 01 E3 24 60")[0] == "6A"       # 60 unreadable here: dropped
    e.req("2A 04")
    assert e.req("2A 02 E3 E3 24") == ["6A", "E3 5A 10 0D 48", "24 00 64"]   # once each
    assert e.req("2A 01 99") == ["7F 2A 31"]
    e.req("2A 04 24")
    unlock(e)                                       # (re-entering 03 kept E3)
    mark = len(e.sent)
    assert e.req("2A 01 24 50") == ["7F 2A 31"]     # E3 + 2 new > 2: nothing scheduled
    e.advance(350000)
    assert [p for _, p in e.sent[mark + 1:]] == ["E3 5A 10 0D 48"]


def test_nrc_order_two_rules_broken():
    e = _ecu(conditions=lambda srv, now, req, n: 0x22 if req[0] == 0x2A and req[2] == 0x24
             else 0, max_pdids=1)
    assert e.one("2A 02 E3") == "7F 2A 7F"          # not in default (Table 23)
    assert e.one("10 03").startswith("50 03")
    assert e.one("2A") == "7F 2A 13"
    assert e.one("2A 05") == "7F 2A 31"             # bad mode + no PDID: 31 first
    assert e.one("2A 02") == "7F 2A 13"
    assert e.one("2A 02 99") == "7F 2A 31"          # F299 not supported
    assert e.one("2A 02 60") == "7F 2A 31"          # not readable in this session
    assert e.one("2A 00 50") == "7F 2A 31"          # bad mode + locked: 31 first
    assert e.one("2A 02 24 50") == "7F 2A 33"       # locked + conditions: 33 first
    assert e.one("2A 02 24 E3") == "7F 2A 22"       # conditions + too many: 22 first
    assert e.req("2A 02 E3 99")[0] == "6A"          # unsupported ones are dropped


def test_stops_on_default_session_and_s3():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    e.req("2A 02 E3")
    e.advance(400000)
    assert e.one("10 01").startswith("50 01")
    mark = len(e.sent)
    e.advance(2000000)
    assert e.sent[mark:] == []
    assert e.one("10 03").startswith("50 03")
    e.req("2A 02 E3")
    start = e.elapsed
    e.advance(6000000)                              # periodic data does not feed S3
    assert e.srv.session == 1
    times = [t - start for t, p in e.sent if t > start and p.startswith("E3")]
    assert times == [300000 * k for k in range(1, 17)]      # last at 4.8 s; S3 at 5 s


def test_kept_over_non_default_transition_but_relock_unschedules():
    e = _ecu()
    unlock(e)
    e.req("2A 02 E3 50")
    assert e.one("10 03").startswith("50 03")       # re-locks security (§5.2)
    mark = len(e.sent)
    e.advance(650000)
    assert [p for _, p in e.sent[mark:]] == ["E3 5A 10 0D 48", "E3 5A 10 0D 48"]


def test_dddid_as_periodic_identifier():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("2C 01 F2 F0 F1 90 01 03 01 05 01 01") == "6C 01 F2 F0"
    assert e.req("2A 03 F0") == ["6A", "F0 57 30 4C 20"]
    e.advance(25000)
    assert e.sent[-1] == (25000, "F0 57 30 4C 20")
    assert e.one("2C 03 F2 F0") == "6C 03 F2 F0"
    mark = len(e.sent)
    e.advance(100000)
    assert e.sent[mark:] == []                      # unscheduled, never an NR


def test_messages_wait_for_a_pending_response():
    e = _ecu(specs=SPECS + [_slow_spec(100000)])
    assert e.one("10 03").startswith("50 03")
    e.req("2A 03 E3")
    mark = len(e.sent)
    e.advance(20000)
    assert e.req("31 01 FF 00") == []               # runs 100 ms: 0x78 at 40 ms
    e.advance(100000)
    got = e.sent[mark:]
    assert [p for _, p in got] == ["7F 31 78", "71 01 FF 00", "E3 5A 10 0D 48"]
    assert [t for t, _ in got] == [60000, 120000, 120000]  # 25..100 ms waited: sent once
    mark = len(e.sent)
    e.advance(30000)
    assert e.sent[mark:] == [(125000, "E3 5A 10 0D 48"), (150000, "E3 5A 10 0D 48")]


def test_functional_suppression():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("2A 02 99", functional=True) is None
    assert e.one("2A 02", functional=True) == "7F 2A 13"
    assert e.req("2A 02 E3", functional=True) == ["6A", "E3 5A 10 0D 48"]


def test_bad_periodic_profile():
    p = make_profile(periodic={"fast_ms": 0})
    assert raises(ConfigError, Ecu, p, None, SPECS)


def test_periodic_sending_does_not_allocate():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    e.req("2A 03 E3 24")
    srv = e.srv
    out = e.out
    now = e.now

    def run():
        t = now
        total = 0
        for _ in range(4):
            t = ticks_add(t, 25000)
            srv.on_timer(t)
            while srv.poll() != EV_NONE:
                pass
            n = srv.pop_pdu(out)
            while n:
                total += n
                n = srv.pop_pdu(out)
        return total

    assert run_locked(run) == 4 * (5 + 3)
