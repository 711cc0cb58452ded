# Authentication 0x29 layouts (ISO 14229-1:2020 §10.6, uds-digest §7.2-7.3):
# every request and response of the nine sub-functions round-trips; a
# truncated field, a length past the end, a zero length where one is
# required, and bytes after the last field all parse as None (never an
# exception).  Tables 65-85 are ISO 14229-1:2020 (not in provided text).
from diagbridge.errors import UsageError
from diagbridge.uds.codec.auth import (build_auth_request, parse_auth_request,
                                       build_auth_response, parse_auth_response,
                                       REQUEST_LAYOUT, RESPONSE_LAYOUT, F_BYTE, F_U16, F_AI, F_LV1,
                                       AI_RSASSA_PSS, AI_AES128,
                                       AI_ECDSA_SHA256, AI_ED25519, AI_HMAC_SHA256,
                                       ai_from_oid, rv_name, session_keys)
from support import raises


def _sample(layout):
    vals = []
    for i in range(len(layout)):
        k = layout[i]
        if k == F_BYTE:
            vals.append(0x10 + i)
        elif k == F_U16:
            vals.append(0x0102)
        elif k == F_AI:
            vals.append(AI_ECDSA_SHA256)
        elif k == F_LV1:
            vals.append(bytes(range(i + 1, i + 4)))
        else:
            vals.append(b"")
    return vals


def test_ai_encodings_match_the_digest():
    assert AI_RSASSA_PSS == bytes.fromhex("06092A864886F70D01010A0000000000")
    assert AI_AES128 == bytes.fromhex("06096086480165030401020000000000")
    assert AI_ECDSA_SHA256 == bytes.fromhex("06082A8648CE3D040302000000000000")
    assert AI_ED25519 == bytes.fromhex("06032B65700000000000000000000000")
    assert AI_HMAC_SHA256 == bytes.fromhex("06082A864886F70D0209000000000000")
    assert raises(UsageError, ai_from_oid, "3.1")
    assert raises(UsageError, ai_from_oid, "1.2." + ".".join(["99999"] * 6))


def test_every_request_and_response_round_trips():
    out = bytearray(600)
    for sf in range(9):
        vals = _sample(REQUEST_LAYOUT[sf])
        n = build_auth_request(out, sf, vals)
        assert out[0] == 0x29 and out[1] == sf
        assert parse_auth_request(out, n) == (sf, vals)
        rv = _sample(RESPONSE_LAYOUT[sf])
        n = build_auth_response(out, sf, rv)
        assert out[0] == 0x69 and out[1] == sf
        assert parse_auth_response(out, n) == (sf, rv)


def test_truncated_and_over_long_inputs_are_none():
    out = bytearray(600)
    for sf in range(9):
        for layout, build, parse in ((REQUEST_LAYOUT, build_auth_request, parse_auth_request),
                                     (RESPONSE_LAYOUT, build_auth_response,
                                      parse_auth_response)):
            n = build(out, sf, _sample(layout[sf]))
            for cut in range(2, n):
                assert parse(out, cut) is None, (sf, cut)      # every truncation
            out[n] = 0
            assert parse(out, n + 1) is None                   # one byte too many


def test_lengths_are_two_bytes_and_checked():
    # 29 01 cc lenCert(2) cert lenChallenge(2) challenge: V39-style bytes by hand
    req = bytes.fromhex("2901 00 0003 AABBCC 0000")
    assert parse_auth_request(req, len(req)) == (1, [0, b"\xAA\xBB\xCC", b""])
    # a certificate length pointing past the end
    bad = bytes.fromhex("2901 00 0010 AABBCC 0000")
    assert parse_auth_request(bad, len(bad)) is None
    # lenCertificateClient must be >= 1; lenChallengeClient may be 0 for 01, not for 02
    zero = bytes.fromhex("2901 00 0000 0000")
    assert parse_auth_request(zero, len(zero)) is None
    bi = bytes.fromhex("2902 00 0001 AA 0000")
    assert parse_auth_request(bi, len(bi)) is None
    # a large certificate (2 KB) and its length field
    out = bytearray(2200)
    cert = bytes(i & 0xFF for i in range(2048))
    n = build_auth_request(out, 1, (0, cert, b"\x01"))
    assert out[3] == 0x08 and out[4] == 0x00 and n == 3 + 2 + 2048 + 2 + 1
    assert parse_auth_request(out, n)[1][1] == cert


def test_v40_symmetric_acr_bytes():
    # uds-digest §14 V40 (§10.6.8.6): 29 06 AI lenPOWN POWN 0000 0000 -> 69 06 12 AI 0000
    pown = bytes.fromhex("3AD77BB40D7A3660A89ECAF32466EF97")
    out = bytearray(64)
    n = build_auth_request(out, 6, (AI_AES128, pown, b"", b""))
    assert bytes(out[0:n]) == bytes.fromhex(
        "2906 06096086480165030401020000000000 0010 3AD77BB40D7A3660A89ECAF32466EF97 0000 0000")
    rsp = bytes.fromhex("690612 06096086480165030401020000000000 0000")
    assert parse_auth_response(rsp, len(rsp)) == (6, [0x12, AI_AES128, b""])


def test_wrong_sid_unknown_sub_function_and_sprmib():
    r = bytes.fromhex("6908 02")
    assert parse_auth_request(r, 3) is None             # a response is not a request
    assert parse_auth_response(bytes.fromhex("6909 02"), 3) is None
    assert parse_auth_request(bytes.fromhex("29"), 1) is None
    assert parse_auth_request(bytes.fromhex("2988"), 2) == (8, [])    # SPRMIB masked
    out = bytearray(8)
    assert build_auth_request(out, 8, (), suppress=True) == 2 and out[1] == 0x88


def test_building_mistakes_raise():
    out = bytearray(64)
    assert raises(UsageError, build_auth_request, out, 9, ())
    assert raises(UsageError, build_auth_request, out, 1, (0, b"x"))          # a field missing
    assert raises(UsageError, build_auth_request, out, 5, (0, b"\x00" * 17))  # AI too long
    assert raises(UsageError, build_auth_response, out, 0x0A, (0,))


def test_return_parameter_names():
    assert rv_name(0x12) == "OwnershipVerified, AuthenticationComplete"
    assert rv_name(0x11) == "CertificateVerified, OwnershipVerificationNecessary"
    assert rv_name(0x21) == "ISOSAEReserved"        # §13 #3: not in the VMS range
    assert rv_name(0xA5) == "vehicleManufacturerSpecific"
    assert rv_name(0xD0) == "systemSupplierSpecific"


def test_session_keys_are_bound_to_the_challenge():
    def hk(secret, salt, info, n):          # a transparent stand-in KDF for the format
        return (bytes(secret) + bytes(salt) + info)[0:n]
    k, ski = session_keys(hk, b"S" * 4, b"C" * 4)
    assert k == b"SSSSCCCCdiagbrid"
    assert ski == (k + b"CCCC" + b"diagbridge")[0:16]
