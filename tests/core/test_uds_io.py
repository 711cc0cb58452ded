# InputOutputControlByIdentifier 0x2F (ISO 14229-1 §13.2, uds-digest §10.10)
# on the real server: byte-exact, the controlled value seen through 0x22,
# control returned to the ECU on default session / S3 / reset (§5.2), the
# NRC order (two rules broken -> the earlier check's NRC).  Layouts and
# IOCP values are ISO 14229-1:2020 (Tables 399-402, E.1 not in provided text).
from diagbridge.codes import EV_NONE
from diagbridge.errors import ConfigError
from diagbridge.uds.server.services import io as srv_io
from diagbridge.uds.codec.io import build_io_request, parse_io_response, mask_bit, mask_len
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.core import UdsServer, EV_RESET
from support import raises, run_locked
from test_uds_server import Ecu, make_profile, unlock, MY_SPECS

DOOR = [12]                     # the air inlet door position the ECU drives (%)
SPECS = MY_SPECS + [srv_io.SPECS]


def _profile():
    p = make_profile()
    p["dids"][0x9B00] = {"length": 1, "live": "door"}
    p["dids"][0x0310] = {"length": 2, "value": b"\xAA\xBB"}
    p["io_controls"] = {
        # §13.2.5.2: Air Inlet Door Position, 1 %/bit, extended session, level 01
        0x9B00: {"length": 1, "sessions": [3], "levels": [1], "default": b"\x0C", "max": 100},
        0x0310: {"length": 2, "sessions": [3], "mask": True, "default": b"\x01\x02"},
        0x0410: {"length": 1, "sessions": [0x40], "default": b"\x07"},
    }
    return p


def _ecu(conditions=None):
    DOOR[0] = 12
    return Ecu(_profile(), specs=SPECS, sources={"door": lambda srv, did: DOOR[0]},
               conditions=conditions)


def test_codec_round_trip():
    out = bytearray(16)
    n = build_io_request(out, 0x9B00, 3, b"\x3C")
    assert bytes(out[:n]) == b"\x2F\x9B\x00\x03\x3C"
    n = build_io_request(out, 0x0310, 0, b"", b"\x80")
    assert bytes(out[:n]) == b"\x2F\x03\x10\x00\x80"
    assert parse_io_response(b"\x6F\x9B\x00\x03\x0C", 5) == (0x9B00, 3, b"\x0C")
    assert parse_io_response(b"\x7F\x2F\x31", 3) is None
    assert mask_len(1) == 1 and mask_len(8) == 1 and mask_len(9) == 2
    assert mask_bit(b"\x80\x01", 0, 0) == 1 and mask_bit(b"\x80\x01", 0, 1) == 0
    assert mask_bit(b"\x80\x01", 0, 15) == 1


def test_short_term_adjustment_overrides_the_live_value():
    e = _ecu()
    unlock(e)
    assert e.one("22 9B 00") == "62 9B 00 0C"
    assert e.one("2F 9B 00 03 3C") == "6F 9B 00 03 3C"      # 60 % (§13.2.5.2)
    DOOR[0] = 20                                            # the ECU would move it
    assert e.one("22 9B 00") == "62 9B 00 3C"               # the tester's value rules
    assert e.one("2F 9B 00 00") == "6F 9B 00 00 14"         # back to the ECU: 20 %
    assert e.one("22 9B 00") == "62 9B 00 14"
    # returnControlToECU is positive even when nothing is controlled (§13.2.1)
    assert e.one("2F 9B 00 00") == "6F 9B 00 00 14"


def test_freeze_and_reset_to_default():
    e = _ecu()
    unlock(e)
    assert e.one("2F 9B 00 02") == "6F 9B 00 02 0C"
    DOOR[0] = 50
    assert e.one("22 9B 00") == "62 9B 00 0C"
    assert e.one("2F 9B 00 01") == "6F 9B 00 01 0C"         # the profile default
    assert e.one("2F 9B 00 03 28") == "6F 9B 00 03 28"
    assert e.one("2F 9B 00 02") == "6F 9B 00 02 28"         # frozen as controlled
    assert e.one("22 9B 00") == "62 9B 00 28"


def test_control_enable_mask_selects_parameters():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("2F 03 10 03 11 22 80") == "6F 03 10 03 11 BB"    # byte 0 only
    assert e.one("22 03 10") == "62 03 10 11 BB"
    assert e.one("2F 03 10 01 40") == "6F 03 10 01 11 02"   # default for byte 1
    assert e.one("2F 03 10 00 80") == "6F 03 10 00 AA 02"   # byte 0 back
    assert e.one("2F 03 10 00") == "7F 2F 13"               # the mask is on every IOCP
    assert e.one("2F 03 10 00 FF") == "6F 03 10 00 AA BB"   # all ones: all back


def test_control_returns_to_the_ecu_on_default_session():
    e = _ecu()
    unlock(e)
    assert e.one("2F 9B 00 03 3C") == "6F 9B 00 03 3C"
    assert e.one("10 01") == "50 01 00 32 01 F4"
    assert e.one("22 9B 00") == "62 9B 00 0C"


def test_control_returns_to_the_ecu_on_s3_timeout():
    e = _ecu()
    unlock(e)
    assert e.one("2F 9B 00 03 3C") == "6F 9B 00 03 3C"
    e.advance(4999999)
    assert e.one("22 9B 00") == "62 9B 00 3C"               # restarts S3
    e.advance(5000000)
    assert e.srv.session == 1
    assert e.one("22 9B 00") == "62 9B 00 0C"


def test_control_stays_across_non_default_transitions():
    e = _ecu()
    unlock(e)
    assert e.one("2F 9B 00 03 3C") == "6F 9B 00 03 3C"
    assert e.one("10 03").startswith("50 03")               # extended -> extended
    assert e.one("22 9B 00") == "62 9B 00 3C"


def test_control_returns_to_the_ecu_on_reset():
    e = _ecu()
    unlock(e)
    assert e.one("2F 9B 00 03 3C") == "6F 9B 00 03 3C"
    assert e.one("11 01") == "51 01"
    assert EV_RESET in e.events
    e.srv.reset(e.now, 1)
    assert e.one("22 9B 00") == "62 9B 00 0C"


def test_io_did_missing_from_dids_reads_its_default():
    e = _ecu()
    assert e.one("22 04 10") == "62 04 10 07"


def test_nrc_order_two_rules_broken():
    e = _ecu(conditions=lambda srv, now, req, n: 0x22 if req[0] == 0x2F and req[4] == 0x3D
             else 0)
    assert e.one("2F 9B 00 03 3C") == "7F 2F 7F"            # not in default (Table 23)
    assert e.one("10 03").startswith("50 03")
    assert e.one("2F 12 34") == "7F 2F 13"                  # short + unknown: 13 first
    assert e.one("2F 12 34 03 3C") == "7F 2F 31"            # unknown + locked: 31 first
    assert e.one("2F 04 10 00") == "7F 2F 31"               # not in this session
    assert e.one("2F 9B 00 05") == "7F 2F 33"               # locked + bad IOCP: 33 first
    unlock(e)
    assert e.one("2F 9B 00 05 01 02") == "7F 2F 31"         # bad IOCP + length: 31 first
    assert e.one("2F 9B 00 03 FF 00") == "7F 2F 13"         # length + range: 13 first
    assert e.one("2F 9B 00 03") == "7F 2F 13"               # controlState missing
    assert e.one("2F 9B 00 00 00") == "7F 2F 13"            # no mask for this DID
    assert e.one("2F 9B 00 03 65") == "7F 2F 31"            # 101 % > max
    assert e.one("2F 9B 00 03 3D") == "7F 2F 22"            # conditions last
    assert e.one("22 9B 00") == "62 9B 00 0C"               # nothing was applied


def test_functional_suppression():
    e = _ecu()
    assert e.one("10 03").startswith("50 03")
    assert e.one("2F 12 34 00", functional=True) is None    # 31 is not sent
    assert e.one("2F 9B", functional=True) == "7F 2F 13"    # 13 is
    assert e.one("2F 9B 00 00", functional=True) == "7F 2F 33"


def test_bad_io_profile():
    p = _profile()
    p["io_controls"][0x9B00]["max"] = 300
    assert raises(ConfigError, Ecu, p, None, SPECS)
    p = _profile()
    p["io_controls"][0x9B00]["length"] = 2
    p["io_controls"][0x9B00]["default"] = b"\x00\x00"
    assert raises(ConfigError, Ecu, p, None, SPECS)         # DID record is 1 byte


_RD = b"\x22\x9B\x00"


def test_reading_a_controlled_did_does_not_allocate():
    e = _ecu()
    unlock(e)
    assert e.one("2F 9B 00 03 3C") == "6F 9B 00 03 3C"
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

    assert run_locked(run) == 3 * 4
    assert out[3] == 0x3C
