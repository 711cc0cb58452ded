# ReadDataByIdentifier 0x22, WriteDataByIdentifier 0x2E and
# ReadScalingDataByIdentifier 0x24 (§11.2, 11.4, 11.7; the NRC flowcharts are
# missing from the source: ISO 14229-1:2020 Fig. 20/26).
from diagbridge.uds.server.nvm import MemNvm
from diagbridge.uds.server.config import UdsServerConfig
from diagbridge.uds.codec.data import (build_rdbi_request, parse_rdbi_response,
                                       build_wdbi_request, parse_wdbi_response,
                                       build_rsdbi_request, parse_rsdbi_response,
                                       encode_constant, decode_constant, formula_scaling,
                                       unit_scaling)
from test_uds_server import Ecu, make_profile, unlock, hexstr, VIN

V = hexstr(VIN)


def test_v23_vin():
    e = Ecu()
    assert e.one("22 F1 90") == "62 F1 90 57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36"


def test_several_and_repeated_dids_in_request_order():
    e = Ecu()
    assert e.one("22 01 05 F1 86 01 05") == "62 01 05 20 F1 86 01 01 05 20"


def test_max_dids_and_length_rules():
    e = Ecu()                                          # limits.max_dids = 4
    assert e.one("22 01 05 01 05 01 05 01 05") == "62" + " 01 05 20" * 4
    assert e.one("22 01 05 01 05 01 05 01 05 01 05") == "7F 22 13"
    assert e.one("22") == "7F 22 13"
    assert e.one("22 01 05 01") == "7F 22 13"
    assert e.one("22 01 05 01", functional=True) == "7F 22 13"


def test_response_too_long():
    e = Ecu(cfg=UdsServerConfig(max_pdu=38))
    assert e.one("22 F1 90") == "62 F1 90 " + V             # 20 bytes
    assert e.one("22 F1 90 F1 90") == "7F 22 14"           # 39 bytes > 38


def test_security_and_auth_per_did():
    e = Ecu()
    assert e.one("22 02 00") == "7F 22 33"
    assert e.one("22 02 00", functional=True) == "7F 22 33"   # 33 is not suppressed
    assert e.one("22 03 00") == "7F 22 34"
    assert e.one("22 02 00 03 00") == "7F 22 34"           # 34 ranks before 33
    assert e.one("22 03 00 02 00") == "7F 22 34"
    assert e.one("22 12 34 02 00") == "7F 22 33"           # unsupported dropped, then 33
    e.srv.auth_role = 1
    assert e.one("22 03 00") == "62 03 00 55"
    unlock(e)
    assert e.one("22 02 00 F1 86") == "62 02 00 12 34 F1 86 03"


def test_did_not_readable_in_session_counts_as_unsupported():
    e = Ecu()
    assert e.one("22 04 00") == "7F 22 31"
    assert e.one("22 04 00 F1 90") == "62 F1 90 " + V
    e.one("10 03")
    assert e.one("22 04 00") == "62 04 00 44"


def test_conditions_after_access():
    e = Ecu(conditions=lambda srv, now, req, n: 0x22 if req[0] == 0x22 else 0)
    assert e.one("22 12 34") == "7F 22 31"
    assert e.one("22 02 00") == "7F 22 33"
    assert e.one("22 F1 90") == "7F 22 22"


def test_live_sources():
    state = {"rpm": 3000}
    e = Ecu(sources={"rpm": lambda srv, did: state["rpm"] * 4})
    assert e.one("22 05 00") == "62 05 00 2E E0"
    state["rpm"] = 800
    assert e.one("22 05 00") == "62 05 00 0C 80"
    e2 = Ecu(sources={"rpm": lambda srv, did: b"\x01"})    # short bytes are padded
    assert e2.one("22 05 00") == "62 05 00 01 00"
    e3 = Ecu()                                             # no source: the static zeros
    assert e3.one("22 05 00") == "62 05 00 00 00"


# ---- 0x2E ----------------------------------------------------------------------
NEW_VIN = b"WVWZZZ1JZXW000001"


def test_wdbi_vin_persisted_across_power_cycle():
    nvm = MemNvm()
    e = Ecu(nvm=nvm)
    unlock(e)
    assert e.one("2E F1 90 " + hexstr(NEW_VIN)) == "6E F1 90"
    assert e.one("22 F1 90") == "62 F1 90 " + hexstr(NEW_VIN)
    assert nvm.get("did:F190") == NEW_VIN
    e2 = Ecu(nvm=nvm.power_cycle())
    assert e2.one("22 F1 90") == "62 F1 90 " + hexstr(NEW_VIN)


def test_wdbi_nrc_order():
    e = Ecu()
    w = "2E F1 90 " + hexstr(NEW_VIN)
    assert e.one("2E F1 90") == "7F 2E 13"                 # too short first
    assert e.one(w) == "7F 2E 31"                          # not writable in default
    assert e.one("2E 12 34 00") == "7F 2E 31"
    e.one("10 03")
    assert e.one("2E F1 90 00") == "7F 2E 13"              # wrong length before 33
    assert e.one(w) == "7F 2E 33"
    assert e.one("2E F1 80 41 41 41 41") == "7F 2E 31"     # F180 never writable (§17.3.2.1)
    assert e.one("2E F1 86 03") == "7F 2E 31"              # read-only DID
    e.one("27 01")
    e.one("27 02 C9 A9")
    assert e.one(w) == "6E F1 90"


def test_wdbi_auth_before_security_and_conditions_last():
    p = make_profile()
    p["dids"][0x0200]["write"] = {"sessions": [3], "levels": [1], "auth": True}
    state = {"nrc": 0}
    e = Ecu(p, conditions=lambda srv, now, req, n: state["nrc"] if req[0] == 0x2E else 0)
    e.one("10 03")
    assert e.one("2E 02 00 AB CD") == "7F 2E 34"
    e.srv.auth_role = 1
    assert e.one("2E 02 00 AB CD") == "7F 2E 33"
    e.one("27 01")
    e.one("27 02 C9 A9")
    state["nrc"] = 0x22
    assert e.one("2E 02 00 AB CD") == "7F 2E 22"
    state["nrc"] = 0
    assert e.one("2E 02 00 AB CD") == "6E 02 00"
    assert e.one("22 02 00") == "62 02 00 AB CD"


def test_wdbi_nvm_failure_is_72_and_keeps_the_old_value():
    nvm = MemNvm()
    e = Ecu(nvm=nvm)
    unlock(e)
    nvm.fail_writes = True
    assert e.one("2E F1 90 " + hexstr(NEW_VIN)) == "7F 2E 72"
    assert e.one("22 F1 90") == "62 F1 90 " + V


# ---- 0x24 ----------------------------------------------------------------------
def test_read_scaling_vectors():
    e = Ecu()
    assert e.one("24 F1 90") == "64 F1 90 6F 62"
    assert e.one("24 01 05") == "64 01 05 01 95 00 E0 4B 00 1E A1 30"
    assert e.one("24 F1 86") == "7F 24 31"                 # no scaling
    assert e.one("24 12 34") == "7F 24 31"
    assert e.one("24 12 34", functional=True) is None
    assert e.one("24 F1") == "7F 24 13"
    assert e.one("24 F1 90 00") == "7F 24 13"


def test_scaling_helpers_build_the_standard_example():
    sc = formula_scaling(1, 0x00, ((75, -2), (30, 0))) + unit_scaling(0x30)
    assert hexstr(sc) == "01 95 00 E0 4B 00 1E A1 30"
    assert encode_constant(75, -2) == b"\xe0\x4b"
    assert decode_constant(0xE0, 0x4B) == (75, -2)
    assert decode_constant(0x0F, 0xD8) == (-40, 0)
    assert decode_constant(0x7F, 0xFF) == (-1, 7)


def test_data_codecs_round_trip():
    out = bytearray(64)
    assert hexstr(out, build_rdbi_request(out, (0xF190, 0xF186))) == "22 F1 90 F1 86"
    e = Ecu()
    n = build_rdbi_request(out, (0xF190, 0xF186))
    e.srv.feed_pdu(e.now, out, n, False)
    n = e.srv.pop_pdu(out)
    assert parse_rdbi_response(out, n, {0xF190: 17, 0xF186: 1}) == \
        [(0xF190, VIN), (0xF186, b"\x01")]
    assert parse_rdbi_response(out, n, {0xF190: 17}) is None
    assert hexstr(out, build_wdbi_request(out, 0x0200, b"\x01\x02")) == "2E 02 00 01 02"
    assert parse_wdbi_response(bytes.fromhex("6E 02 00"), 3) == 0x0200
    assert hexstr(out, build_rsdbi_request(out, 0x0105)) == "24 01 05"
    assert parse_rsdbi_response(bytes.fromhex("64 F1 90 6F 62"), 5) == (0xF190, b"\x6f\x62")
