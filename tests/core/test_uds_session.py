# DiagnosticSessionControl, ECUReset, TesterPresent, CommunicationControl,
# ControlDTCSetting (§10.2-10.8) and the session transition effects of
# uds-digest §5.2 (Fig 7 is missing from the source: ISO 14229-1:2020).
from diagbridge.uds.server.core import (EV_SESSION_CHANGED, EV_RESET, EV_SECURITY, EV_COMM_CONTROL,
                                   EV_DTC_SETTING, EV_RESPONSE)
from diagbridge.uds.server.service import ServiceSpec
from diagbridge.uds.codec.session import (build_dsc_request, parse_dsc_response,
                                          build_ecu_reset_request, parse_ecu_reset_response,
                                          build_comm_control_request, build_tester_present_request,
                                          build_control_dtc_setting_request, parse_sf_response,
                                          negative_nrc)
from test_uds_server import Ecu, make_profile, unlock, MY_SPECS, hexstr

_SEEN = []


def _on_session(srv, now, old, new):
    _SEEN.append(("session", old, new))


def _on_reset(srv, now, kind):
    _SEEN.append(("reset", kind))


def _spy():
    del _SEEN[:]
    return ServiceSpec(0xBB, lambda srv, now, req, n, f: -0x31, on_session=_on_session,
                       on_reset=_on_reset)


def test_dsc_same_session_reruns_the_transition():
    e = Ecu(specs=MY_SPECS + [_spy()])
    assert e.one("10 01") == "50 01 00 32 01 F4"
    e.one("10 03")
    e.one("10 03")
    assert _SEEN == [("reset", 0), ("session", 1, 1), ("session", 1, 3), ("session", 3, 3)]
    assert e.events.count(EV_SESSION_CHANGED) == 3


def test_non_default_to_non_default_relocks_but_keeps_cc_and_dtc_setting():
    e = Ecu()
    unlock(e)
    assert e.one("28 03 01") == "68 03"
    assert e.one("85 02") == "C5 02"
    assert e.one("10 03") == "50 03 00 32 01 F4"              # V21
    assert e.srv.level == 0
    assert e.one("27 01") == "67 01 36 57"                     # non-zero: relocked
    assert e.srv.comm_control == 3 and e.srv.dtc_setting_on is False
    e.one("10 02")
    assert e.srv.comm_control == 3 and e.srv.dtc_setting_on is False


def test_non_default_to_default_restores_everything():
    e = Ecu()
    unlock(e)
    e.one("28 01 03")
    e.one("85 02")
    e.events = []
    assert e.one("10 01") == "50 01 00 32 01 F4"
    assert e.srv.level == 0 and e.srv.comm_control == 0 and e.srv.comm_type == 0x03
    assert e.srv.dtc_setting_on is True
    for ev in (EV_SECURITY, EV_COMM_CONTROL, EV_DTC_SETTING, EV_SESSION_CHANGED):
        assert ev in e.events


def test_s3_timeout_has_the_same_effects_as_dsc_01():
    e = Ecu(specs=MY_SPECS + [_spy()])
    unlock(e)
    e.one("85 02")
    e.advance(5000000)
    assert e.srv.session == 1 and e.srv.level == 0 and e.srv.dtc_setting_on
    assert _SEEN[-1] == ("session", 3, 1)


def test_default_to_non_default_keeps_security_state():
    # a profile that allows SecurityAccess in the default session (override)
    p = make_profile(services={0x27: {"sessions": "any"}})
    p["security"]["levels"][1]["sessions"] = "any"
    e = Ecu(p)
    assert e.one("27 01") == "67 01 36 57"
    assert e.one("27 02 C9 A9") == "67 02"
    e.one("10 03")
    assert e.srv.level == 1                     # default -> non-default: only ROE stops
    e.one("10 03")
    assert e.srv.level == 0


def test_programming_session_from_list():
    e = Ecu(make_profile(sessions={1: {}, 2: {"from": [3]}, 3: {}}))
    assert e.one("10 02") == "7F 10 7E"
    e.one("10 03")
    assert e.one("10 02") == "50 02 00 32 01 F4"


def test_session_timing_override_encoding():
    e = Ecu(make_profile(sessions={1: {"p2_ms": 25, "p2star_ms": 2550}, 3: {"p2_ms": 0x1234}}))
    assert e.one("10 01") == "50 01 00 19 00 FF"
    assert e.one("10 03") == "50 03 12 34 01 F4"


# ---- ECUReset -----------------------------------------------------------------------
def test_v22_ecu_reset_response_before_reset():
    e = Ecu(specs=MY_SPECS + [_spy()])
    unlock(e)
    e.events = []
    assert e.one("11 01") == "51 01"
    assert e.events == [EV_RESPONSE, EV_RESET] and e.srv.reset_kind == 1
    # between the response and the reset nothing is answered (§10.3.1)
    assert e.req("3E 00") == []
    e.srv.reset(e.now, e.srv.reset_kind)
    assert e.srv.session == 1 and e.srv.level == 0
    assert _SEEN[-1] == ("reset", 1)
    assert e.one("3E 00") == "7E 00"


def test_ecu_reset_kinds_and_rapid_power_shutdown():
    for sf in (2, 3):
        e = Ecu()
        assert e.one("11 %02X" % sf) == "51 %02X" % sf and e.srv.reset_kind == sf
    e = Ecu()
    assert e.one("11 04") == "51 04 0A"                         # powerDownTime 10 s
    assert e.srv.rapid_power_shutdown and EV_RESET not in e.events
    assert e.one("11 05") == "51 05" and not e.srv.rapid_power_shutdown
    assert e.one("11 06") == "7F 11 12"
    e = Ecu()
    assert e.one("11 81") is None and EV_RESET in e.events      # suppressed, still resets


def test_ecu_reset_conditions_and_no_reset_on_nr():
    e = Ecu(conditions=lambda srv, now, req, n: 0x83 if req[0] == 0x11 else 0)
    assert e.one("11 01") == "7F 11 83"                         # engineIsRunning
    assert EV_RESET not in e.events
    assert e.one("3E 00") == "7E 00"


def test_reset_restores_dtc_setting_and_cc():
    e = Ecu()
    e.one("10 03")
    e.one("28 03 03")
    e.one("85 02")
    e.one("11 03")
    e.srv.reset(e.now, 3)
    assert e.srv.dtc_setting_on and e.srv.comm_control == 0 and e.srv.session == 1


# ---- CommunicationControl -----------------------------------------------------------
def test_comm_control_vectors():
    e = Ecu()
    assert e.one("28 00 01") == "7F 28 7F"                      # not in default
    e.one("10 03")
    assert e.one("28 00 01") == "68 00"                         # already active: positive
    assert e.one("28 03 02") == "68 03"
    assert e.srv.comm_control == 3 and e.srv.comm_type == 2
    assert e.one("28 01 F3") == "68 01" and e.srv.comm_type == 0xF3   # subnet F
    assert e.one("28 01 04") == "7F 28 31"                      # reserved bits
    assert e.one("28 04 01 00 01") == "68 04" and e.srv.comm_node_id == 1
    assert e.one("28 05 01 00 02") == "7F 28 31"                # unknown node
    assert e.one("28 04 01") == "7F 28 13"                      # 04 needs the node id
    assert e.one("28 00 01 00 01") == "7F 28 13"
    assert e.one("28 06 01") == "7F 28 12"


# ---- ControlDTCSetting --------------------------------------------------------------
def test_v32_dtc_setting_off_twice():
    e = Ecu()
    assert e.one("85 02") == "7F 85 7F"
    e.one("10 03")
    assert e.one("85 02") == "C5 02"
    assert e.one("85 02") == "C5 02"
    assert e.srv.dtc_setting_on is False
    assert e.one("85 01") == "C5 01" and e.srv.dtc_setting_on
    assert e.one("85 02 FF FF FF") == "C5 02" and e.srv.dtc_setting_option == b"\xff\xff\xff"
    assert e.one("85 02 12 34 56") == "7F 85 31"
    assert e.one("85 02 FF") == "7F 85 13"
    assert e.one("85 03") == "7F 85 12"


# ---- client codecs --------------------------------------------------------------
def test_session_codecs_round_trip():
    out = bytearray(8)
    assert hexstr(out, build_dsc_request(out, 3)) == "10 03"
    assert hexstr(out, build_dsc_request(out, 3, True)) == "10 83"
    assert parse_dsc_response(bytes.fromhex("50 03 00 32 01 F4"), 6) == (3, 50, 5000)
    assert parse_dsc_response(bytes.fromhex("7F 10 12"), 3) is None
    assert negative_nrc(bytes.fromhex("7F 10 12"), 3, 0x10) == 0x12
    assert hexstr(out, build_ecu_reset_request(out, 1)) == "11 01"
    assert parse_ecu_reset_response(bytes.fromhex("51 04 0A"), 3) == (4, 10)
    assert parse_ecu_reset_response(bytes.fromhex("51 01"), 2) == (1, None)
    assert hexstr(out, build_comm_control_request(out, 4, 1, 0x0102)) == "28 04 01 01 02"
    assert hexstr(out, build_comm_control_request(out, 3, 3, suppress=True)) == "28 83 03"
    assert hexstr(out, build_tester_present_request(out)) == "3E 80"
    assert hexstr(out, build_control_dtc_setting_request(out, 2, b"\xff\xff\xff")) \
        == "85 02 FF FF FF"
    assert parse_sf_response(bytes.fromhex("C5 02"), 2, 0x85) == 2
    e = Ecu()
    n = build_dsc_request(out, 3)
    e.srv.feed_pdu(e.now, out, n, False)
    n = e.srv.pop_pdu(out)
    assert parse_dsc_response(out, n) == (3, 50, 5000)
