# DynamicallyDefineDataIdentifier 0x2C (ISO 14229-1 §11.6, uds-digest §10.5,
# vector V33) on the real server, read back through 0x22: byte-exact,
# concatenation, overrun, access of the sources at read time, lifetime over
# session changes, the NRC order (two rules broken -> the earlier check's
# NRC).  Layouts are ISO 14229-1:2020 (Tables 236-243 not in provided text).
from diagbridge.codes import EV_NONE
from diagbridge.errors import ConfigError
from diagbridge.uds.server.services import dddid as srv_dddid
from diagbridge.uds.codec.dddid import (build_define_by_identifier, build_clear,
                                        build_define_by_memory_address, parse_dddid_response)
from support import raises, run_locked
from test_uds_server import Ecu, make_profile, unlock, MY_SPECS

SPECS = MY_SPECS + [srv_dddid.SPECS]
VIN_HEX = "57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36"


def _ecu(conditions=None, **dddid):
    p = make_profile()
    p["dids"][0xF2E3] = {"length": 2, "value": b"\xE3\xE3"}     # a static F2xx DID
    if dddid:
        p["dddid"] = dddid
    return Ecu(p, specs=SPECS, conditions=conditions,
               sources={"rpm": lambda srv, did: 0x0D48})


def test_codec():
    out = bytearray(32)
    n = build_define_by_identifier(out, 0xF301, [(0xF190, 1, 4), (0x0105, 1, 1)])
    assert bytes(out[:n]).hex() == "2c01f301f190010401050101"
    n = build_define_by_memory_address(out, 0xF301, [(0x20481392, 2), (0x20481394, 1)], 4, 1)
    assert bytes(out[:n]).hex() == "2c02f30114204813920220481394" + "01"
    assert bytes(out[:build_clear(out, 0xF303)]).hex() == "2c03f303"
    assert bytes(out[:build_clear(out)]).hex() == "2c03"
    assert parse_dddid_response(b"\x6C\x01\xF3\x01", 4) == (1, 0xF301)
    assert parse_dddid_response(b"\x6C\x03", 2) == (3, None)
    assert parse_dddid_response(b"\x6C\x03\xF3", 3) is None


def test_define_by_identifier_and_read():
    e = _ecu()
    assert e.one("2C 01 F3 01 F1 90 01 04 01 05 01 01") == "6C 01 F3 01"
    assert e.one("22 F3 01") == "62 F3 01 57 30 4C 30 20"
    # a live source is read when the DDDID is read
    assert e.one("2C 01 F3 02 05 00 01 02") == "6C 01 F3 02"
    assert e.one("22 F3 02 F3 01") == "62 F3 02 0D 48 F3 01 57 30 4C 30 20"


def test_concatenation_in_request_order():
    e = _ecu()
    assert e.one("2C 01 F3 01 F1 90 01 02") == "6C 01 F3 01"
    assert e.one("2C 02 F3 01 14 20 48 13 92 02") == "6C 02 F3 01"   # 2 bytes of A5
    assert e.one("2C 01 F3 01 F1 90 0E 04") == "6C 01 F3 01"         # "1326"
    assert e.one("22 F3 01") == "62 F3 01 57 30 A5 A5 31 33 32 36"


def test_clear_one_all_and_undefined_v33():
    e = _ecu()
    assert e.one("2C 01 F3 01 F1 90 01 04") == "6C 01 F3 01"
    assert e.one("2C 01 F2 10 01 05 01 01") == "6C 01 F2 10"
    assert e.one("2C 03 F3 01") == "6C 03 F3 01"
    assert e.one("22 F3 01") == "7F 22 31"
    assert e.one("2C 03 F3 03") == "6C 03 F3 03"            # V33: not defined, in range
    assert e.one("22 F2 10") == "62 F2 10 20"
    assert e.one("2C 03") == "6C 03"                        # all [K]
    assert e.one("22 F2 10") == "7F 22 31"
    assert e.one("2C 03 F4 00") == "7F 2C 31"
    assert e.one("2C 03 F3") == "7F 2C 13"


def test_overrun_keeps_the_previous_definition():
    e = _ecu(max_length=8)
    assert e.one("2C 01 F3 01 F1 90 01 06") == "6C 01 F3 01"
    assert e.one("2C 01 F3 01 F1 90 07 03") == "7F 2C 31"   # 9 > 8 bytes
    assert e.one("22 F3 01") == "62 F3 01 57 30 4C 30 30 30"
    assert e.one("2C 01 F3 01 F1 90 07 02") == "6C 01 F3 01"
    assert e.one("22 F3 01") == "62 F3 01 57 30 4C 30 30 30 30 34"


def test_limits_of_dddids_and_elements():
    e = _ecu(max_dddids=1, max_elements=2)
    assert e.one("2C 01 F3 01 01 05 01 01") == "6C 01 F3 01"
    assert e.one("2C 01 F3 02 01 05 01 01") == "7F 2C 31"   # one DDDID only
    assert e.one("2C 01 F3 01 01 05 01 01 01 05 01 01") == "7F 2C 31"   # 3 elements
    assert e.one("2C 01 F3 01 01 05 01 01") == "6C 01 F3 01"
    assert e.one("22 F3 01") == "62 F3 01 20 20"


def test_static_did_in_the_range_is_not_redefined():
    e = _ecu()
    assert e.one("2C 01 F2 E3 01 05 01 01") == "7F 2C 31"
    assert e.one("2C 03 F2 E3") == "6C 03 F2 E3"
    assert e.one("22 F2 E3") == "62 F2 E3 E3 E3"
    assert e.one("2E F3 01 00") == "7F 2E 31"               # DDDIDs are not written


def test_source_access_is_checked_at_read_time():
    e = _ecu(clear_on_default=False)
    assert e.one("2C 01 F3 01 02 00 01 02") == "7F 2C 33"   # locked source
    unlock(e)
    assert e.one("2C 01 F3 01 02 00 01 02 04 00 01 01") == "6C 01 F3 01"
    assert e.one("22 F3 01") == "62 F3 01 12 34 44"
    assert e.one("10 03").startswith("50 03")               # re-locks (§5.2)
    assert e.one("22 F3 01") == "7F 22 33"
    assert e.one("10 01").startswith("50 01")               # kept (clear_on_default off)
    assert e.one("22 F3 01") == "7F 22 31"                  # 0x0400 only in extended
    unlock(e)
    assert e.one("22 F3 01") == "62 F3 01 12 34 44"
    assert e.one("2C 02 F3 02 14 00 00 10 00 02") == "7F 2C 34"   # auth-only memory


def test_cleared_on_default_session_s3_and_reset():
    e = _ecu()
    assert e.one("2C 01 F3 01 01 05 01 01") == "6C 01 F3 01"
    assert e.one("10 03").startswith("50 03")
    assert e.one("22 F3 01") == "62 F3 01 20"              # kept default -> extended
    assert e.one("10 03").startswith("50 03")
    assert e.one("22 F3 01") == "62 F3 01 20"              # and extended -> extended
    e.advance(5000000)                                      # S3 -> default
    assert e.srv.session == 1
    assert e.one("22 F3 01") == "7F 22 31"
    assert e.one("2C 01 F3 01 01 05 01 01") == "6C 01 F3 01"
    assert e.one("10 01").startswith("50 01")              # default -> default
    assert e.one("22 F3 01") == "7F 22 31"
    assert e.one("2C 01 F3 01 01 05 01 01") == "6C 01 F3 01"
    e.srv.reset(e.now, 1)
    assert e.one("22 F3 01") == "7F 22 31"


def test_nrc_order_two_rules_broken():
    e = _ecu(conditions=lambda srv, now, req, n: 0x22 if req[0] == 0x2C and n == 12 else 0,
             max_length=8)
    assert e.one("2C") == "7F 2C 13"
    assert e.one("2C 04 F3 01") == "7F 2C 12"
    assert e.one("2C 01 F4 00 F1 90 01") == "7F 2C 13"      # length + range: 13 first
    assert e.one("2C 01 F4 00 F1 90 01 04") == "7F 2C 31"   # outside F200-F3FF
    assert e.one("2C 01 F3 01 01 05 02 01") == "7F 2C 31"   # position beyond the DID
    assert e.one("2C 01 F3 01 01 05 01 00") == "7F 2C 31"   # size 0
    assert e.one("2C 01 F3 01 F2 E3 01 02") == "7F 2C 31"   # a DDDID-range source
    # unknown source + locked source: 31 first; locked source + overrun: 33 first
    assert e.one("2C 01 F3 01 12 34 01 01 02 00 01 02") == "7F 2C 31"
    assert e.one("2C 01 F3 01 02 00 01 02 F1 90 01 09") == "7F 2C 33"
    assert e.one("2C 02 F3 01 50 00") == "7F 2C 31"          # ALFID before length
    assert e.one("2C 02 F3 01 14 20 48 13") == "7F 2C 13"
    assert e.one("2C 02 F3 01 14 30 00 00 00 01") == "7F 2C 31"   # no such memory
    # overrun + conditions: 31 first; then conditions alone
    assert e.one("2C 01 F3 01 F1 90 01 08 01 05 01 01") == "7F 2C 31"
    assert e.one("2C 01 F3 01 F1 90 01 04 01 05 01 01") == "7F 2C 22"
    assert e.one("22 F3 01") == "7F 22 31"                  # nothing was defined


def test_sprmib_and_functional():
    e = _ecu()
    assert e.one("2C 81 F3 01 01 05 01 01") is None
    assert e.one("22 F3 01") == "62 F3 01 20"
    assert e.one("2C 01 F4 00 01 05 01 01", functional=True) is None     # 31 suppressed
    assert e.one("2C 01 F3 01 01", functional=True) == "7F 2C 13"
    assert e.one("2C 83", functional=True) is None
    assert e.one("22 F3 01") == "7F 22 31"


def test_bad_dddid_profile():
    p = make_profile(dddid={"max_length": 0})
    assert raises(ConfigError, Ecu, p, None, SPECS)


_RD = b"\x22\xF3\x01"


def test_reading_a_dddid_does_not_allocate():
    e = _ecu()
    assert e.one("2C 01 F3 01 F1 90 01 04 01 05 01 01") == "6C 01 F3 01"
    assert e.one("2C 02 F3 01 14 20 48 13 92 02") == "6C 02 F3 01"
    srv = e.srv
    out = e.out
    now = e.now

    def run():
        total = 0
        for _ in range(3):
            srv.feed_pdu(now, _RD, 3, False)
            total += srv.pop_pdu(out)
            while srv.poll() != EV_NONE:
                pass
        return total

    assert run_locked(run) == 3 * 10
    assert out[7] == 0x20 and out[9] == 0xA5
