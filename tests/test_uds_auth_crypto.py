"""Authentication 0x29 with real cryptography (ISO 14229-1:2020 §10.6,
uds-digest §7): the CPython provider (diagbridge.cpy.auth_crypto) in our
server, the tester helpers (diagbridge.cpy.uds.auth) as the client, and the
certificates of tools/test_pki.py.  ECDSA P-256, Ed25519 and RSA-PSS
proofs, ephemeral ECDH session keys, the negative certificate variants,
ACR (the §10.6.8.6 AES example, AES-CMAC, HMAC, Ed25519 tokens), and the
whole exchange over CAN-TP on python-can's virtual bus (real clock:
generous timeouts, no timing asserts).
"""
import itertools

import can
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

import test_pki
from diagbridge.cpy.auth_crypto import (CryptographyProvider, load_certificates, chain_der,
                                        load_private_key, roles_of, split_der)
from diagbridge.cpy.cantp.blocking import open_channel
from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu
from diagbridge.cpy.uds.auth import (AuthenticationError, authenticate, authenticate_acr,
                                     deauthenticate)
from diagbridge.cpy.uds.client import UdsClient
from diagbridge.uds.codec.auth import AI_AES128, AI_ED25519, AI_HMAC_SHA256
from diagbridge.uds.server.services import auth as srv_auth
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from test_uds_server import Ecu, make_profile, MY_SPECS

ROLES = {"workshop": 0x01, "engineering": 0x02}
DIDS = {0x0300: {"length": 1, "value": b"\x55", "read": {"auth": True}},
        0x0301: {"length": 1, "value": b"\x66", "read": {"auth": 0x02}}}
_chan = itertools.count()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return test_pki.generate(tmp_path_factory.mktemp("pki"))


class Direct:
    """Our tester helpers talking straight to a UdsServer (no transport)."""

    def __init__(self, ecu):
        self.ecu = ecu

    def request(self, data):
        h = self.ecu.one(bytes(data))
        b = bytes.fromhex(h)
        r = Rsp(b)
        r.nrc = b[2] if b[0] == 0x7F else None
        return r

    def read(self, did):
        return self.ecu.one("22 %04X" % did)


class Rsp(bytes):
    nrc = None


def _provider(pki, crl=True):
    return CryptographyProvider([pki["root"]["cert"]],
                                crls=[pki["crl"].read_bytes()] if crl else ())


def _server(pki, mode="apce", **over):
    a = {"mode": mode, "roles": ROLES, "provider": _provider(pki),
         "server_key": load_private_key(pki["ecu"]["key"]),
         "server_certificate": pki["ecu"]["chain"].read_bytes()}
    a.update(over)
    dids = dict(make_profile()["dids"])
    dids.update(DIDS)
    return Direct(Ecu(make_profile(authentication=a, dids=dids),
                      specs=MY_SPECS + [srv_auth.SPECS]))


def test_pki_files_and_roles(pki):
    chain = pki["tester"]["chain"].read_bytes()
    certs = split_der(chain)
    assert len(certs) == 2                          # the leaf, then the intermediate
    leaf = load_certificates(pki["tester"]["cert"])[0]
    assert roles_of(leaf) == ("workshop",)
    assert roles_of(load_certificates(pki["tester_ed25519"]["cert"])[0]) == ("engineering",)
    assert isinstance(load_private_key(pki["tester_ed25519"]["key"]), ed25519.Ed25519PrivateKey)


@pytest.mark.parametrize("name,role,did", [("tester", 0x01, 0x0300),
                                           ("tester_ed25519", 0x02, 0x0301),
                                           ("tester_rsa", 0x01, 0x0300)])
def test_apce_unidirectional_real_signatures(pki, name, role, did):
    c = _server(pki)
    assert c.read(did) == "7F 22 34"
    r = authenticate(c, pki[name]["chain"].read_bytes(), pki[name]["key"])
    assert r.return_value == 0x12 and r.session_key is None
    assert c.ecu.srv.auth_role == role
    assert c.read(did).startswith("62")
    assert deauthenticate(c) == 0x10
    assert c.read(did) == "7F 22 34"


def test_apce_bidirectional_with_ecdh_session_key(pki):
    c = _server(pki)
    r = authenticate(c, pki["tester_ed25519"]["chain"].read_bytes(), pki["tester_ed25519"]["key"],
                     bidirectional=True, session_key=True,
                     server_roots=[pki["root"]["cert"]])
    assert r.return_value == 0x12
    assert len(r.session_key) == 16 and r.session_key == c.ecu.srv.uds_auth.session_key
    assert roles_of(load_certificates(r.server_certificate)[0]) == ("ecu",)


def test_client_refuses_an_ecu_outside_its_roots(pki):
    c = _server(pki)
    with pytest.raises(AuthenticationError) as e:
        authenticate(c, pki["tester"]["chain"].read_bytes(), pki["tester"]["key"],
                     bidirectional=True, server_roots=[pki["rogue_root"]["cert"]])
    assert e.value.step == 0x02 and e.value.nrc is None
    assert "0x52" in str(e.value)


@pytest.mark.parametrize("name,nrc", [("expired", 0x50), ("not_yet_valid", 0x50),
                                      ("wrong_ca", 0x52), ("revoked", 0x57),
                                      ("no_signature_usage", 0x53)])
def test_certificate_variants_are_refused(pki, name, nrc):
    c = _server(pki)
    with pytest.raises(AuthenticationError) as e:
        authenticate(c, pki[name]["chain"].read_bytes(), pki[name]["key"])
    assert e.value.nrc == nrc and e.value.step == 0x01
    assert c.ecu.srv.auth_role == 0


def test_wrong_key_bad_signature_and_format(pki):
    c = _server(pki)
    with pytest.raises(AuthenticationError) as e:       # someone else's private key
        authenticate(c, pki["tester"]["chain"].read_bytes(), pki["ecu"]["key"])
    assert e.value.nrc == 0x58 and e.value.step == 0x03
    # a chain whose leaf the intermediate did not sign: the rogue leaf under our intermediate
    rogue = load_certificates(pki["wrong_ca"]["cert"])[0]
    inter = load_certificates(pki["intermediate"]["cert"])[0]
    with pytest.raises(AuthenticationError) as e:
        authenticate(c, [rogue, inter], pki["wrong_ca"]["key"])
    assert e.value.nrc == 0x52                          # issuer name is not the intermediate
    c.ecu.one("29 00")
    assert c.request(b"\x29\x01\x00\x00\x03\x30\x01\x00\x00\x00").nrc == 0x54
    assert c.ecu.srv.auth_role == 0


def test_v40_symmetric_acr_aes_example(pki):
    # §10.6.8.6 / digest §14 V40: key 2B7E...4F3C, challenge 6BC1..., POWN 3AD7...
    key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
    p = _provider(pki)
    p.random = lambda n: bytes.fromhex("6BC1BEE22E409F96E93D7E117393172A")
    c = _server(pki, mode="acr_sym", provider=p, challenge_len=16,
                acr={"key": key, "role": "engineering"})
    r5 = c.ecu.one("29 05 00 06096086480165030401020000000000")
    assert r5 == ("69 05 00 06 09 60 86 48 01 65 03 04 01 02 00 00 00 00 00 00 10 "
                  "6B C1 BE E2 2E 40 9F 96 E9 3D 7E 11 73 93 17 2A 00 00")
    assert c.ecu.one("29 06 06 09 60 86 48 01 65 03 04 01 02 00 00 00 00 00 00 10 3A D7 7B B4 "
                     "0D 7A 36 60 A8 9E CA F3 24 66 EF 97 00 00 00 00") == \
        "69 06 12 06 09 60 86 48 01 65 03 04 01 02 00 00 00 00 00 00 00"
    assert c.read(0x0301) == "62 03 01 66"
    c.ecu.one("29 05 00 06096086480165030401020000000000")
    assert c.ecu.one("29 06 06 09 60 86 48 01 65 03 04 01 02 00 00 00 00 00 00 10 " +
                     "00 " * 16 + "00 00 00 00") == "7F 29 58"            # example #7


def test_acr_cmac_hmac_bidirectional_and_session_key(pki):
    key = bytes(range(16))
    c = _server(pki, mode="acr_sym", acr={"key": key, "role": "workshop"})
    r = authenticate_acr(c, AI_AES128, key=key, bidirectional=True, session_key=True)
    assert r.return_value == 0x12 and r.session_key == c.ecu.srv.uds_auth.session_key
    r = authenticate_acr(c, AI_HMAC_SHA256, key=key)
    assert r.return_value == 0x12
    with pytest.raises(AuthenticationError) as e:
        authenticate_acr(c, AI_HMAC_SHA256, key=b"\x00" * 16)
    assert e.value.nrc == 0x58


def test_acr_asymmetric_ed25519_token(pki):
    k = load_private_key(pki["tester_ed25519"]["key"])
    c = _server(pki, mode="acr_asym",
                acr={"public_key": pki["tester_ed25519"]["cert"].read_bytes(),
                     "role": "engineering"})
    r = authenticate_acr(c, AI_ED25519, private_key=k)
    assert r.return_value == 0x12 and c.read(0x0301) == "62 03 01 66"
    c.ecu.one("29 00")
    with pytest.raises(AuthenticationError) as e:       # an ECDSA AI for an Ed25519 key
        from diagbridge.uds.codec.auth import AI_ECDSA_SHA256
        authenticate_acr(c, AI_ECDSA_SHA256, private_key=k)
    assert e.value.nrc == 0x58 and c.ecu.srv.auth_role == 0


# ---- over CAN-TP: our blocking client against the engine ECU with 0x29 -------------------
def _engine_with_auth(pki):
    p = engine.profile()
    p["modules"] = list(p["modules"]) + ["auth"]
    p["authentication"] = {"roles": ROLES, "provider": _provider(pki),
                           "server_key": load_private_key(pki["ecu"]["key"]),
                           "server_certificate": pki["ecu"]["chain"].read_bytes()}
    p["dids"] = dict(p["dids"])
    p["dids"][0xFD00] = {"length": 4, "value": b"AUTH", "read": {"auth": True}}
    return Profile(p, sources=engine.sources(engine.EngineState()))


def test_apce_over_cantp_with_a_2kb_certificate_chain(pki):
    ch = "uds-auth-%d" % next(_chan)
    bus_ecu = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    bus_tester = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    runner = EcuRunner(bus_ecu, build_ecu(_engine_with_auth(pki)))
    try:
        with open_channel(bus_tester, tx_id=0x7E0, rx_id=0x7E8) as tp:
            with UdsClient(tp, p2_timeout=5.0) as uds:
                assert uds.request(b"\x22\xFD\x00").nrc == 0x34
                r = authenticate(uds, pki["tester_rsa"]["chain"].read_bytes(),
                                 pki["tester_rsa"]["key"], bidirectional=True,
                                 session_key=True, server_roots=[pki["root"]["cert"]])
                assert r.return_value == 0x12 and len(r.session_key) == 16
                assert uds.request(b"\x22\xFD\x00").data == b"\x62\xFD\x00AUTH"
                pad = chain_der(load_certificates(pki["tester_rsa"]["cert"]) +
                                load_certificates(pki["intermediate"]["cert"]) * 3)
                assert len(pad) >= 2000
                # transmitCertificate with a long (2 KB) chain: the intermediate repeated
                # is no chain of trust (its issuer is the root, not itself)
                rsp = uds.request(b"\x29\x04\x00\x01" + len(pad).to_bytes(2, "big") + pad)
                assert rsp.nrc == 0x52
                assert deauthenticate(uds) == 0x10
                assert uds.request(b"\x22\xFD\x00").nrc == 0x34
    finally:
        runner.close()
        bus_ecu.shutdown()
        bus_tester.shutdown()


# ---- the host library and CLI through the gateway (an in-process sim vehicle) ------------
def _sim_url(monkeypatch, pki):
    """sim:// with the engine ECU replaced by one that serves 0x29."""
    import hashlib
    import os
    from diagbridge.ecu import Ecu as CoreEcu
    from diagbridge.link.proto import ROLE_FULL
    from diagbridge.sim.ecu_node import EcuNode
    from diagbridge.sim.vehicle import Vehicle
    from diagbridge_host import connection
    from diagbridge_host.transports.sim import SimTransport

    def open_transport(url, timeout_s):
        v = Vehicle(hashlib.sha256, urandom=os.urandom, ecus=False, open_role=ROLE_FULL)
        v.ecus["engine"] = EcuNode(v.k, v.buses[0].attach("engine"),
                                   CoreEcu(_engine_with_auth(pki), urandom=os.urandom,
                                           sha256=hashlib.sha256))
        return SimTransport(v, "sim://")
    monkeypatch.setattr(connection, "open_transport", open_transport)
    return "sim://"


def test_host_authenticate_through_the_gateway(monkeypatch, pki):
    import diagbridge_host
    from diagbridge_host import auth as host_auth
    url = _sim_url(monkeypatch, pki)
    with diagbridge_host.connect(url) as conn:
        with conn.uds(0, tx_id=0x7E0, rx_id=0x7E8) as uds:
            assert uds.request(b"\x22\xFD\x00").nrc == 0x34
            r = host_auth.authenticate(uds, pki["tester"]["cert"].read_bytes() +
                                       pki["intermediate"]["cert"].read_bytes(),
                                       pki["tester"]["key"], bidirectional=True,
                                       session_key=True, server_roots=[pki["root"]["cert"]])
            assert r.return_value == 0x12 and len(r.session_key) == 16
            assert bytes(uds.request(b"\x22\xFD\x00")) == b"\x62\xFD\x00AUTH"
            with pytest.raises(host_auth.AuthenticationError) as e:
                host_auth.authenticate(uds, pki["expired"]["chain"], pki["expired"]["key"])
            assert e.value.nrc == 0x50
            assert bytes(uds.request(b"\x22\xFD\x00")) == b"\x62\xFD\x00AUTH"   # kept (§10.6.4)
            assert host_auth.deauthenticate(uds) == 0x10
            assert uds.request(b"\x22\xFD\x00").nrc == 0x34


def test_cli_auth_command(monkeypatch, pki):
    import io
    import json
    from diagbridge_host import cli
    url = _sim_url(monkeypatch, pki)

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        return cli.main(list(argv), out, err), out.getvalue(), err.getvalue()
    rc, out, err = run("auth", "7E0", "--cert", str(pki["tester_ed25519"]["chain"]),
                       "--private-key", str(pki["tester_ed25519"]["key"]), "--read-did", "FD00",
                       "--url", url)
    assert rc == 0, err
    assert "authenticated: 0x12" in out and "DID FD00: 41 55 54 48" in out
    rc, out, err = run("auth", "7E0", "--cert", str(pki["wrong_ca"]["chain"]),
                       "--private-key", str(pki["wrong_ca"]["key"]), "--url", url, "--json")
    doc = json.loads(out)
    assert rc == 1 and doc["nrc"] == 0x52 and "CVF_ICOT" in doc["error"]
    rc, out, err = run("auth", "7E0", "--cert", str(pki["tester"]["chain"]), "--private-key",
                       str(pki["tester"]["key"]), "--bidirectional", "--url", url)
    assert rc == 2 and "--roots" in err
    rc, out, err = run("auth", "7E0", "--cert", "/nonexistent.pem", "--private-key",
                       str(pki["tester"]["key"]), "--url", url)
    assert rc == 2 and "cannot read /nonexistent.pem" in err


def test_install_from_a_file_style_profile(pki):
    """Paths in the profile (as a JSON/TOML profile gives them), read by install()."""
    from diagbridge.cpy.auth_crypto import install
    a = {"roles": ROLES, "roots": [str(pki["root"]["cert"])],
         "server_key": str(pki["ecu"]["key"]),
         "server_certificate": str(pki["ecu"]["chain"])}
    e = Ecu(make_profile(authentication=a),
            specs=MY_SPECS + [srv_auth.SPECS])
    assert e.one("29 08") == "7F 29 22"             # no provider yet: conditionsNotCorrect
    install(e.srv)
    c = Direct(e)
    r = authenticate(c, pki["tester"]["chain"].read_bytes(), pki["tester"]["key"],
                     bidirectional=True, server_roots=[pki["root"]["cert"]])
    assert r.return_value == 0x12 and c.read(0x0300) == "62 03 00 55"


# ---- the exchange on a simulated 500 kbit/s bus (virtual time) ---------------------------
def _sim_apce(pki, name, bidirectional):
    """Our core client and server on the sim kernel's 500 kbit/s CAN bus; the
    virtual time of the whole APCE exchange (both requests and responses)."""
    from diagbridge.codes import OK
    from diagbridge.uds.client.core import UdsClient as CoreClient
    from diagbridge.uds.client import api
    from diagbridge.uds.server.core import UdsServer
    from diagbridge.uds.server.nvm import MemNvm
    from diagbridge.uds.codec.auth import apce_client_content, apce_server_content
    from uds_client_support import Rig, ENGINE_SPECS
    srv = UdsServer(_engine_with_auth(pki), nvm=MemNvm(), specs=ENGINE_SPECS + [srv_auth.SPECS])
    c = CoreClient()
    rig = Rig([c], [srv])
    p = _provider(pki)
    chain = pki[name]["chain"].read_bytes()
    key = load_private_key(pki[name]["key"])
    t0 = rig.k.elapsed_us
    cc = p.random(32) if bidirectional else b""
    rig.go(c, api.auth_verify_certificate(chain, cc, 0, bidirectional))
    rig.run_until_done(c)
    assert c.result == OK
    d = api.decode_auth(c.payload, c.length)
    if bidirectional:
        code, pub, _ = p.verify_chain(d["certificate_server"], None)
        assert code == 0 and p.verify(pub, apce_server_content(cc, d["challenge_server"], b""),
                                      d["pown_server"])
    pown = p.sign(key, apce_client_content(d["challenge_server"], cc, b""))
    rig.go(c, api.auth_proof_of_ownership(pown))
    rig.run_until_done(c)
    assert c.result == OK and api.decode_auth(c.payload, c.length)["return_value"] == 0x12
    assert srv.auth_role == 0x01
    return rig.k.elapsed_us - t0, len(chain)


@pytest.mark.parametrize("name", ["tester", "tester_rsa"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_apce_time_on_a_500kbit_bus(pki, name, bidirectional):
    us, size = _sim_apce(pki, name, bidirectional)
    # a chain of `size` bytes at about 8 payload bytes per ~250 us frame, plus the
    # ECU's certificate and proof in the bidirectional answer: well under a second
    assert 0 < us < 1000000, us
    print("APCE %s %s chain %d B: %.1f ms virtual" % (
        "bidirectional" if bidirectional else "unidirectional", name, size, us / 1000))
