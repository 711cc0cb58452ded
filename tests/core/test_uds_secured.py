# SecuredDataTransmission 0x84 (ISO 14229-1 §16, uds-digest §10.12, §11.2)
# on the real server: the §16.2.5 examples (signed, not encrypted, "1's
# complement" signature), the internal negative response inside a positive
# C4, 0x38/0x39/0x3A, the anti-replay counter, encryption through the
# pluggable callables, 0x78 for a slow internal service, the NRC order.
# Tables 488-500 are ISO 14229-1:2020 (not in provided text): layout [K].
from diagbridge.errors import ConfigError
from diagbridge.uds.server.services import secured as srv_secured
from diagbridge.uds.codec.secured import (build_sdt_request, parse_sdt_response,
                                          ones_complement_sign, ones_complement_verify,
                                          ones_complement_sum)
from diagbridge.uds.server.services.secured import set_crypto
from support import raises
from test_uds_server import Ecu, make_profile, unlock, MY_SPECS, VIN, _slow_spec, hexstr

SPECS = MY_SPECS + [srv_secured.SPECS]
SIGNED = 0x0021             # request + signed
SIGNED_RR = 0x0061          # ... and a signed response requested
ENC = 0x0031                # request + signed + encrypted


def _ecu(specs=SPECS, **sec):
    p = make_profile(secured=dict(sec))
    e = Ecu(p, specs=specs)
    set_crypto(e.srv, verify=ones_complement_verify, sign=ones_complement_sign,
               encrypt=_xor, decrypt=_unxor)
    return e


def _xor(calc, src, start, end, dst, pos):
    for i in range(start, end):
        dst[pos + i - start] = src[i] ^ 0x5A
    return end - start


def _unxor(calc, src, start, end, dst):
    return _xor(calc, src, start, end, dst, 0)


def _req(admin, arc, inner, calc=0x00, sig=True, bad_sig=False):
    out = bytearray(600)
    n = build_sdt_request(out, admin, calc, arc, inner, b"\x00\x00" if sig else b"")
    if sig:
        s = ones_complement_sum(out, 1, n - 2) ^ (1 if bad_sig else 0)
        out[n - 2] = s >> 8
        out[n - 1] = s & 0xFF
    return hexstr(out, n)


def _rsp(admin, arc, inner, signed):
    out = bytearray(600)
    n = build_sdt_request(out, admin, 0x00, arc, inner, b"\x00\x00" if signed else b"")
    out[0] = 0xC4
    if signed:
        s = ones_complement_sum(out, 1, n - 2)
        out[n - 2] = s >> 8
        out[n - 1] = s & 0xFF
    return hexstr(out, n)


def test_codec_round_trip():
    r = _req(SIGNED, 1, b"\x22\xF1\x90")
    assert r == "84 00 21 00 00 02 00 01 22 F1 90 " + "%02X %02X" % divmod(
        ones_complement_sum(bytes.fromhex(r.replace(" ", "")), 1, 11), 256)
    data = bytes.fromhex(_rsp(0x0020, 7, b"\x62\xF1\x90\x01", True).replace(" ", ""))
    admin, calc, arc, inner, sig = parse_sdt_response(data, len(data))
    assert (admin, calc, arc, inner) == (0x0020, 0, 7, b"\x62\xF1\x90\x01")
    assert ones_complement_verify(0, data, 1, len(data) - 2, len(data) - 2, 2)
    assert parse_sdt_response(b"\xC4\x00\x20\x00\x00\x02\x00\x01", 8) is None


def test_example1_write_did_signed():
    e = _ecu()
    unlock(e)
    wdbi = b"\x2E\xF1\x90" + b"W0L000043MB541999"
    assert e.one(_req(SIGNED, 1, wdbi)) == _rsp(0x0000, 1, b"\x6E\xF1\x90", False)
    assert e.one("22 F1 90") == "62 F1 90 " + hexstr(b"W0L000043MB541999")
    # with a signed response requested
    assert e.one(_req(SIGNED_RR, 2, b"\x22\xF1\x90")) == _rsp(
        0x0020, 2, b"\x62\xF1\x90" + b"W0L000043MB541999", True)


def test_example2_internal_negative_response_inside_a_positive_c4():
    e = _ecu()
    unlock(e)
    # §16.2.5.3: the VIN is too short (2 bytes): 13 from the internal service
    assert e.one(_req(SIGNED, 1, b"\x2E\xF1\x90\x57\x30")) == _rsp(0, 1, b"\x7F\x2E\x13", False)
    assert e.one("22 F1 90") == "62 F1 90 " + hexstr(VIN)


def test_internal_request_runs_the_general_checks_in_the_server_state():
    e = _ecu()
    assert e.one(_req(SIGNED, 1, b"\x27\x01")) == _rsp(0, 1, b"\x7F\x27\x7F", False)
    assert e.one("10 03").startswith("50 03")
    assert e.one(_req(SIGNED, 2, b"\x27\x01")) == _rsp(0, 2, b"\x67\x01\x36\x57", False)
    assert e.one(_req(SIGNED, 3, b"\x27\x02\xC9\xA9")) == _rsp(0, 3, b"\x67\x02", False)
    assert e.srv.level == 1
    assert e.one(_req(SIGNED, 4, b"\x3E\x80")) is None          # suppressed inside too
    assert e.one(_req(SIGNED, 5, b"\x12\x00")) == _rsp(0, 5, b"\x7F\x12\x11", False)


def test_0x38_required_and_0x39_not_allowed():
    e = _ecu(required=[0x2E, 0x28], not_allowed=[0x11])
    unlock(e)
    assert e.one("2E F1 90 " + hexstr(VIN)) == "7F 2E 38"
    assert e.one("2E F1 90 00") == "7F 2E 38"                   # 38 before the length check
    assert e.one(_req(SIGNED, 1, b"\x2E\xF1\x90" + VIN)) == _rsp(0, 1, b"\x6E\xF1\x90", False)
    assert e.one(_req(SIGNED, 2, b"\x11\x01")) == _rsp(0, 2, b"\x7F\x11\x39", False)
    inner = _req(SIGNED, 9, b"\x22\xF1\x90")
    outer = _req(SIGNED, 3, bytes.fromhex(inner.replace(" ", "")))
    assert e.one(outer) == _rsp(0, 3, b"\x7F\x84\x39", False)   # no 0x84 in 0x84
    assert e.one("28 00 01") == "7F 28 38"
    assert e.one("10 01").startswith("50 01")
    assert e.one("28 00 01") == "7F 28 7F"                      # session check first


def test_anti_replay_counter():
    e = _ecu()
    assert e.one(_req(SIGNED, 0x1000, b"\x22\xFF\x00")).endswith("62 FF 00 03 00 00 00")
    assert e.one(_req(SIGNED, 0x1000, b"\x22\xFF\x00")) == "7F 84 3A"   # replayed
    assert e.one(_req(SIGNED, 0x0FFF, b"\x22\xFF\x00")) == "7F 84 3A"   # older
    assert e.one(_req(SIGNED, 0x9000, b"\x22\xFF\x00")) == "7F 84 3A"   # 0x8000 ahead
    assert e.one(_req(SIGNED, 0x1001, b"\x22\xFF\x00")).startswith("C4")
    e.srv.reset(e.now, 1)                                       # RAM: taken as is again
    assert e.one(_req(SIGNED, 0x0001, b"\x22\xFF\x00")).startswith("C4")
    # a rejected (bad signature) counter is not consumed
    assert e.one(_req(SIGNED, 0x0002, b"\x22\xFF\x00", bad_sig=True)) == "7F 84 3A"
    assert e.one(_req(SIGNED, 0x0002, b"\x22\xFF\x00")).startswith("C4")


def test_encrypted_message_through_the_callables():
    e = _ecu()
    enc_inner = bytes(b ^ 0x5A for b in b"\x22\xF1\x90")
    r = e.one(_req(ENC, 1, enc_inner))
    data = bytes.fromhex(r.replace(" ", ""))
    admin, calc, arc, inner, sig = parse_sdt_response(data, len(data))
    assert admin == 0x0010 and arc == 1 and sig == b""
    assert bytes(b ^ 0x5A for b in inner) == b"\x62\xF1\x90" + VIN


def test_fail_closed_without_crypto():
    e = Ecu(make_profile(), specs=SPECS)
    assert e.one(_req(SIGNED, 1, b"\x22\xF1\x90")) == "7F 84 31"    # cannot verify
    assert e.one(_req(0x0001, 1, b"\x22\xF1\x90", sig=False)) == "7F 84 3A"
    e2 = Ecu(make_profile(secured={"require_signature": False}), specs=SPECS)
    assert e2.one(_req(0x0001, 1, b"\x22\xFF\x00", sig=False)) == _rsp(
        0, 1, b"\x62\xFF\x00\x03\x00\x00\x00", False)


def test_nrc_order_two_rules_broken():
    e = _ecu(calcs=[0x00, 0x80])
    assert e.one("84 00 21 00 00 02 00 01") == "7F 84 13"       # no internal message
    assert e.one("84 00 21 00 00 09 00 01 22 F1 90") == "7F 84 13"  # signature overruns
    # bad admin (response bit) + unsupported calc: 13 first
    assert e.one(_req(0x0020, 1, b"\x22\xF1\x90", calc=0x42)) == "7F 84 13"
    assert e.one(_req(SIGNED | 0x0100, 1, b"\x22\xF1\x90")) == "7F 84 13"   # reserved bit
    assert e.one(_req(0x0001, 1, b"\x22\xF1\x90")) == "7F 84 13"   # signature, b5 clear
    # unsupported calc + bad signature: 31 first
    assert e.one(_req(SIGNED, 1, b"\x22\xF1\x90", calc=0x42, bad_sig=True)) == "7F 84 31"
    # not signed (required) + replayed counter... 3A either way; bad signature: 3A
    assert e.one(_req(SIGNED, 1, b"\x22\xF1\x90", bad_sig=True)) == "7F 84 3A"
    assert e.one(_req(SIGNED, 1, b"\x22\xF1\x90", calc=0x80)).startswith("C4 00 00 80")


def test_slow_internal_service_gets_0x78_of_0x84():
    e = _ecu(specs=SPECS + [_slow_spec(200000)])
    assert e.req(_req(SIGNED, 1, b"\x31\x81\xFF\x00")) == []
    e.advance(300000)
    # the 0x78 names 0x84; the final C4 is sent although the inner SPRMIB = 1
    assert e.sent == [(40000, "7F 84 78"), (200000, _rsp(0, 1, b"\x71\x01\xFF\x00", False))]


def test_bad_secured_profile():
    assert raises(ConfigError, Ecu, make_profile(secured={"verify": 3}), None, SPECS)
    assert raises(ConfigError, Ecu, make_profile(secured={"signature_len": 0}), None, SPECS)
    assert raises(ConfigError, Ecu, make_profile(secured={"required": [0x100]}), None, SPECS)
