# Authentication 0x29 on the real server (ISO 14229-1:2020 §10.6, uds-digest
# §7.4-7.6) with HmacTestCrypto (auth_support.py, a deterministic stand-in
# for the crypto, not secure): every APCE and ACR flow, positive and negative,
# each failure answered with its NRC and nothing granted; the access matrix
# of a protected DID before, after, and after each way the authenticated
# state ends.  Tables 65-85 / B.5 are ISO 14229-1:2020 (not in provided text).
from diagbridge.errors import ConfigError
from diagbridge.uds.codec.auth import (build_auth_request, parse_auth_response,
                                       AI_HMAC_SHA256, AI_ED25519, apce_client_content,
                                       apce_server_content, acr_client_content,
                                       acr_server_content, session_keys)
from diagbridge.uds.server.services import auth as srv_auth
from diagbridge.uds.server.services.auth import set_provider
from auth_support import (HmacTestCrypto, make_cert, hmac, NOW_S, ROOT_ID, ROOT_KEY,
                          FLAG_CA)
from support import raises
from test_uds_server import Ecu, make_profile, MY_SPECS, hexstr

SPECS = MY_SPECS + [srv_auth.SPECS]
TESTER_KEY = b"T" * 32
SERVER_KEY = b"S" * 32
INTER_KEY = b"I" * 32
PSK = b"K" * 32
ROLES = {"workshop": 0x01, "engineering": 0x02}
DIDS = {0x0300: {"length": 1, "value": b"\x55", "read": {"auth": True}},
        0x0301: {"length": 1, "value": b"\x66", "read": {"auth": 0x02}}}


def _cert(role="workshop", key=TESTER_KEY, issuer_key=ROOT_KEY, issuer=ROOT_ID, **kw):
    return make_cert(issuer_key, issuer, 0x20, key, role, **kw)


def _ecu(mode="apce", provider=None, **over):
    a = {"mode": mode, "roles": ROLES, "provider": provider or HmacTestCrypto(),
         "clock": lambda: NOW_S}
    if mode == "apce":
        a["server_key"] = SERVER_KEY
        a["server_certificate"] = make_cert(ROOT_KEY, ROOT_ID, 0x30, SERVER_KEY, "ecu")
    elif mode == "acr_sym":
        a["acr"] = {"key": PSK, "role": "engineering"}
    else:
        a["acr"] = {"public_key": TESTER_KEY, "role": "workshop"}
    for k in over:
        a[k] = over[k]
    dids = dict(make_profile()["dids"])
    dids.update(DIDS)
    return Ecu(make_profile(authentication=a, dids=dids), specs=SPECS)


def _req(sf, *fields):
    out = bytearray(4095)
    n = build_auth_request(out, sf, fields)
    return hexstr(out, n)


def _rsp(hexs):
    b = bytes.fromhex(hexs)
    return parse_auth_response(b, len(b))


def _apce(e, cert=None, key=TESTER_KEY, cc=b"", comm=0, eph=b"", sf=1):
    """29 01 then 29 03 signed with `key`; the two responses."""
    r1 = e.one(_req(sf, comm, cert or _cert(), cc))
    p = _rsp(r1)
    if p is None:
        return r1, None
    cs = p[1][1]
    return r1, e.one(_req(3, hmac(key, apce_client_content(cs, cc, eph)), eph))


def test_apce_unidirectional_grants_the_certificate_role():
    e = _ecu()
    assert e.one("22 03 00") == "7F 22 34"          # V41-style: not authenticated -> 0x34
    r1, r3 = _apce(e)
    sf, v = _rsp(r1)
    assert sf == 1 and v[0] == 0x11 and len(v[1]) == 32 and v[2] == b""
    assert r3 == "69 03 12 00 00"                   # OwnershipVerified, no session key
    assert e.srv.auth_role == 0x01
    assert e.one("22 03 00") == "62 03 00 55"
    assert e.one("22 03 01") == "7F 22 34"          # engineering only


def test_every_attempt_gets_a_fresh_challenge():
    e = _ecu()
    seen = set()
    for _ in range(3):
        seen.add(_rsp(e.one(_req(1, 0, _cert(), b"")))[1][1])
    assert len(seen) == 3


def test_apce_bidirectional_server_proves_its_key():
    e = _ecu()
    cc = b"c" * 16
    r1 = e.one(_req(2, 0, _cert(), cc))
    sf, v = _rsp(r1)
    assert sf == 2 and v[0] == 0x11
    cs, cert_s, pown_s, eph_s = v[1], v[2], v[3], v[4]
    c = HmacTestCrypto()
    code, pub, roles = c.verify_chain(cert_s, NOW_S)
    assert code == 0 and roles == ("ecu",)
    assert c.verify(pub, apce_server_content(cc, cs, eph_s), pown_s)
    assert e.one(_req(3, hmac(TESTER_KEY, apce_client_content(cs, cc, b"")), b"")) \
        == "69 03 12 00 00"
    assert e.srv.auth_role == 0x01


def test_bidirectional_needs_a_client_challenge_and_a_server_key():
    e = _ecu()
    assert e.one("29 02 00 " + "%04X" % len(_cert()) + _cert().hex() + " 00 00") == "7F 29 13"
    e2 = _ecu(server_key=None, server_certificate=None)
    assert e2.one(_req(2, 0, _cert(), b"c")) == "7F 29 12"     # not offered without a key


def test_ephemeral_key_agreement_gives_both_sides_the_session_key():
    c = HmacTestCrypto(seed=b"tester")
    e = _ecu()
    r1 = e.one(_req(1, 0x01, _cert(), b""))
    v = _rsp(r1)[1]
    cs, eph_s = v[1], v[2]
    assert len(eph_s) == 16
    priv, eph_c = c.ecdh_keypair()
    r3 = e.one(_req(3, hmac(TESTER_KEY, apce_client_content(cs, b"", eph_c)), eph_c))
    sf, v3 = _rsp(r3)
    key, ski = session_keys(c.hkdf, c.ecdh(priv, eph_s), cs)
    assert v3 == [0x12, ski]
    assert e.srv.uds_auth.session_key == key


def test_session_key_requested_but_no_ephemeral_key_from_the_client():
    e = _ecu()
    cs = _rsp(e.one(_req(1, 0x01, _cert(), b"")))[1][1]
    assert e.one(_req(3, hmac(TESTER_KEY, apce_client_content(cs, b"", b"")), b"")) \
        == "7F 29 5B"
    assert e.srv.auth_role == 0


def test_certificate_failures_answer_their_nrc_and_grant_nothing():
    rogue = b"X" * 32
    inter = make_cert(ROOT_KEY, ROOT_ID, 0x10, INTER_KEY, "ca", flags=FLAG_CA)
    cases = (
        (_cert(not_after=NOW_S - 1), "7F 29 50"),                   # expired
        (_cert(not_before=NOW_S + 10), "7F 29 50"),                 # not yet valid
        (_cert(issuer_key=rogue, issuer=7), "7F 29 52"),            # wrong CA
        (_cert(issuer_key=rogue), "7F 29 51"),                      # bad signature
        (_cert()[:-1] + b"\x00", "7F 29 51"),                       # a flipped byte
        (_cert()[:20], "7F 29 54"),                                 # not a certificate
        (_cert(flags=FLAG_CA), "7F 29 53"),                         # no signing key usage
        (_cert(role="guest"), "7F 29 56"),                          # a role the ECU lacks
        (make_cert(ROOT_KEY, 9, 0x21, TESTER_KEY) + inter, "7F 29 52"),  # chain breaks
    )
    for cert, want in cases:
        e = _ecu()
        assert e.one(_req(1, 0, cert, b"")) == want, want
        assert e.srv.auth_role == 0
        assert e.one(_req(3, b"\x01", b"")) == "7F 29 24"       # no challenge was issued
    e = _ecu(provider=HmacTestCrypto(revoked=(0x20,)))
    assert e.one(_req(1, 0, _cert(), b"")) == "7F 29 57"        # revoked
    # an intermediate CA between the root and the tester
    e = _ecu()
    leaf = make_cert(INTER_KEY, 0x10, 0x22, TESTER_KEY, "engineering")
    r1, r3 = _apce(e, cert=leaf + inter)
    assert r3 == "69 03 12 00 00" and e.srv.auth_role == 0x02
    assert e.one("22 03 01") == "62 03 01 66"


def test_wrong_proof_replay_and_stale_challenge():
    e = _ecu()
    r1, r3 = _apce(e, key=b"W" * 32)                    # signed with the wrong key
    assert r3 == "7F 29 58" and e.srv.auth_role == 0
    assert e.one(_req(3, b"\x01", b"")) == "7F 29 24"   # that challenge is spent
    r1, r3 = _apce(e)
    assert r3 == "69 03 12 00 00"
    cs = _rsp(r1)[1][1]
    replay = _req(3, hmac(TESTER_KEY, apce_client_content(cs, b"", b"")), b"")
    e.one("29 00")
    assert e.one(replay) == "7F 29 24" and e.srv.auth_role == 0     # replayed proof
    cs = _rsp(e.one(_req(1, 0, _cert(), b"")))[1][1]
    e.advance(5000001)                                  # challenge_timeout_ms = 5000
    assert e.one(_req(3, hmac(TESTER_KEY, apce_client_content(cs, b"", b"")), b"")) \
        == "7F 29 24"
    assert e.srv.auth_role == 0
    # a proof for a previous challenge does not fit a new one
    cs_old = cs
    e.one(_req(1, 0, _cert(), b""))
    assert e.one(_req(3, hmac(TESTER_KEY, apce_client_content(cs_old, b"", b"")), b"")) \
        == "7F 29 58"


def test_a_failed_new_attempt_keeps_the_old_rights():
    e = _ecu()
    _apce(e)
    assert e.srv.auth_role == 0x01
    assert e.one(_req(1, 0, _cert(not_after=NOW_S - 1), b"")) == "7F 29 50"
    assert e.srv.auth_role == 0x01                      # §10.6.4
    r1, r3 = _apce(e, cert=_cert(role="engineering"))
    assert e.srv.auth_role == 0x02                      # the new rights replace the old


def test_truncated_and_over_long_fields_are_0x13():
    e = _ecu()
    good = _req(1, 0, _cert(), b"")
    assert e.one(good[:-3]) == "7F 29 13"               # truncated
    assert e.one(good + " 00") == "7F 29 13"            # a byte after the last field
    assert e.one("29 01 00 FF FF 00") == "7F 29 13"     # length past the end
    assert e.one("29 03") == "7F 29 13"
    assert e.one("29 08 00") == "7F 29 13"              # exact length 2
    assert e.one("29 05 00 " + "00" * 15) == "7F 29 12"  # 0x05 is ACR: not offered
    assert _ecu("acr_sym").one("29 05 00 " + "00" * 15) == "7F 29 13"  # AI is 16 bytes
    assert e.one("29 09") == "7F 29 12"
    assert e.srv.auth_role == 0


def test_authentication_configuration_and_deauthenticate():
    assert _ecu().one("29 08") == "69 08 02"            # V39: APCE
    assert _ecu("acr_asym").one("29 08") == "69 08 03"
    assert _ecu("acr_sym").one("29 08") == "69 08 04"
    e = _ecu()
    assert e.one("29 00") == "69 00 10"                 # also when not authenticated
    assert e.req("29 88") == []                         # SPRMIB suppresses the response


def test_no_provider_refuses_with_conditions_not_correct():
    e = _ecu(provider=None)
    e.srv.uds_auth.provider = None
    for sf in (1, 8):
        assert e.one("29 0%d" % sf + (" 00 0001 AA 0000" if sf == 1 else "")) == "7F 29 22"
    assert e.one("29 00") == "69 00 10"                 # deAuthenticate always works
    set_provider(e.srv, HmacTestCrypto(), lambda: NOW_S)
    assert e.one("29 08") == "69 08 02"


def _acr_sym(e, sf=6, key=PSK, cc=b"", ai=AI_HMAC_SHA256, comm=0):
    r5 = e.one(_req(5, comm, AI_HMAC_SHA256))
    p = _rsp(r5)
    cs = p[1][2]
    pown = hmac(key, acr_client_content(cs, cc, b""))
    return r5, cs, e.one(_req(sf, ai, pown, cc, b""))


def test_acr_symmetric_unidirectional_and_bidirectional():
    e = _ecu("acr_sym")
    r5, cs, r6 = _acr_sym(e)
    sf, v = _rsp(r5)
    assert sf == 5 and v[0] == 0x00 and v[1] == AI_HMAC_SHA256 and len(v[2]) == 32 and v[3] == b""
    assert _rsp(r6) == (6, [0x12, AI_HMAC_SHA256, b""])
    assert e.srv.auth_role == 0x02 and e.one("22 03 01") == "62 03 01 66"
    cc = b"n" * 16
    r5, cs, r7 = _acr_sym(e, sf=7, cc=cc)
    sf, v = _rsp(r7)
    assert sf == 7 and v[0] == 0x12 and v[1] == AI_HMAC_SHA256
    assert v[2] == hmac(PSK, acr_server_content(cc, cs))    # the server knows the key too
    # with a session key: both derive it from the pre-shared key
    r5, cs, r6 = _acr_sym(e, comm=1, cc=cc)
    k, ski = session_keys(HmacTestCrypto().hkdf, PSK, cs + cc)
    assert _rsp(r6)[1][2] == ski and e.srv.uds_auth.session_key == k


def test_acr_failures():
    e = _ecu("acr_sym")
    assert e.one(_req(6, AI_HMAC_SHA256, b"\x01", b"", b"")) == "7F 29 24"   # no 0x05
    assert e.one(_req(5, 0, AI_ED25519)) == "7F 29 31"      # algorithm not offered
    r5, cs, r6 = _acr_sym(e, key=b"w" * 32)                # wrong key (example #7)
    assert r6 == "7F 29 58" and e.srv.auth_role == 0
    r5, cs, r6 = _acr_sym(e, ai=AI_ED25519)                # AI differs from 0x05
    assert r6 == "7F 29 31" and e.srv.auth_role == 0
    r5, cs, r6 = _acr_sym(e, sf=7, cc=b"")                 # 0x07 needs challengeClient
    assert r6 == "7F 29 13"
    e.one(_req(5, 0, AI_HMAC_SHA256))
    e.advance(5000001)
    pown = hmac(PSK, acr_client_content(e.srv.uds_auth.challenge, b"", b""))
    assert e.one(_req(6, AI_HMAC_SHA256, pown, b"", b"")) == "7F 29 24"      # stale
    assert e.srv.auth_role == 0
    assert e.one(_req(1, 0, _cert(), b"")) == "7F 29 12"    # APCE not offered in ACR mode


def test_acr_asymmetric():
    e = _ecu("acr_asym")
    cs = _rsp(e.one(_req(5, 0, AI_HMAC_SHA256)))[1][2]
    pown = hmac(TESTER_KEY, acr_client_content(cs, b"", b""))
    assert _rsp(e.one(_req(6, AI_HMAC_SHA256, pown, b"", b""))) == \
        (6, [0x12, AI_HMAC_SHA256, b""])
    assert e.srv.auth_role == 0x01
    cs = _rsp(e.one(_req(5, 1, AI_HMAC_SHA256)))[1][2]     # a session key: none without a PSK
    pown = hmac(TESTER_KEY, acr_client_content(cs, b"", b""))
    assert e.one(_req(6, AI_HMAC_SHA256, pown, b"", b"")) == "7F 29 5B"


def test_transmit_certificate_adds_rights_and_replaces_by_id():
    e = _ecu()
    assert e.one(_req(4, 0x0001, _cert(role="engineering"))) == "69 04 13"
    assert e.srv.auth_role == 0                          # alone it authenticates nothing
    _apce(e)
    assert e.one(_req(4, 0x0001, _cert(role="engineering"))) == "69 04 13"
    assert e.srv.auth_role == 0x03 and e.one("22 03 01") == "62 03 01 66"
    assert e.one(_req(4, 0x0002, _cert(not_after=NOW_S - 1))) == "7F 29 50"
    for i in range(2, 5):
        assert e.one(_req(4, 0x0010 + i, _cert())) == "69 04 13"
    assert e.one(_req(4, 0x0020, _cert())) == "7F 29 31"     # four slots, all used
    assert e.one(_req(4, 0x0001, _cert())) == "69 04 13"     # the same id replaces


def test_access_matrix_ends_with_deauth_s3_session_change_reset():
    def authed():
        e.one("29 00")
        _apce(e)
        assert e.one("22 03 00") == "62 03 00 55"
    e = _ecu()
    assert e.one("22 03 00") == "7F 22 34"
    authed()
    assert e.one("29 00") == "69 00 10"
    assert e.one("22 03 00") == "7F 22 34"
    # S3: in a non-default session every request restarts it; its expiry ends both
    e.one("10 03")
    authed()
    e.advance(4900000)
    assert e.one("22 03 00") == "62 03 00 55"           # restarted by that request
    e.advance(5000001)
    assert e.srv.session == 0x01 and e.one("22 03 00") == "7F 22 34"
    # a session change
    authed()
    e.one("10 03")
    assert e.one("22 03 00") == "7F 22 34"
    # ECUReset
    authed()
    e.srv.reset(e.now, 1)
    assert e.one("22 03 00") == "7F 22 34"


def test_max_age_ends_the_state_in_virtual_time():
    e = _ecu(max_age_ms=1000)
    _apce(e)
    e.advance(999000)
    assert e.one("22 03 00") == "62 03 00 55"
    e.advance(1001)
    assert e.one("22 03 00") == "7F 22 34"


def test_the_idle_timer_is_reset_by_every_request_in_the_default_session_too():
    # §10.6.4: the timer starts on entering the state and every request resets it
    e = _ecu(idle_timeout_ms=2000)
    _apce(e)
    assert e.srv.session == 0x01
    for _ in range(3):                                  # 6 s in all, never 2 s idle
        e.advance(1999000)
        assert e.one("22 03 00") == "62 03 00 55"
    e.advance(1999999)
    e.one("3E 00")                                      # any request counts
    e.advance(1999999)
    e.srv.feed_pdu(e.now, b"\x3e\x80", 2, True)        # the functional keep-alive too
    e.advance(1999999)
    assert e.one("22 03 00") == "62 03 00 55"
    e.advance(2000000)                                  # 2 s without a request
    assert e.one("22 03 00") == "7F 22 34"
    assert e.srv.auth_role == 0


def test_state_is_per_server_channel():
    a, b = _ecu(), _ecu()
    _apce(a)
    assert a.one("22 03 00") == "62 03 00 55"
    assert b.one("22 03 00") == "7F 22 34"


def test_protected_service_and_sub_function_by_role():
    e = _ecu()
    e.prof.raw["services"] = {}
    e = Ecu(make_profile(authentication=e.prof.raw["authentication"],
                         services={0x11: {"auth": 0x02}}), specs=SPECS)
    assert e.one("11 01") == "7F 11 34"                 # V41
    _apce(e)
    assert e.one("11 01") == "7F 11 34"                 # workshop is not enough
    _apce(e, cert=_cert(role="engineering"))
    assert e.one("11 01") == "51 01"


def test_bad_profile_sections():
    for bad in ({"mode": "pki"}, {"roles": [1]}, {"roles": {"a": 0}}, {"challenge_len": 2},
                {"mode": "acr_sym"}, {"mode": "acr_asym"}, {"clock": 5},
                {"acr": {"key": PSK, "role": "nobody"}, "mode": "acr_sym"}):
        assert raises(ConfigError, Ecu, make_profile(authentication=bad), None, SPECS), bad
