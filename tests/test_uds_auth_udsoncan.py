"""Interoperability: udsoncan's Authentication (0x29) client, all nine
sub-functions, over can-isotp on python-can's virtual bus against our
engine ECU with the 0x29 module (ISO 14229-1:2020 §10.6).  udsoncan only
encodes the messages: the certificates come from tools/test_pki.py and the
proofs are made here with `cryptography`, in the project's token format
(uds/codec/auth.py).  Real clock: generous timeouts, no timing asserts.
"""
import itertools
import os

import can
import isotp
import pytest
import udsoncan
from udsoncan.client import Client
from udsoncan.connections import PythonIsoTpConnection
from udsoncan.exceptions import NegativeResponseException

import test_pki
from diagbridge.cpy.auth_crypto import CryptographyProvider, load_private_key, sign_with
from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu
from diagbridge.uds.codec.auth import (AI_HMAC_SHA256, acr_client_content, acr_server_content,
                                       apce_client_content, apce_server_content, session_keys)
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine

ROLES = {"workshop": 0x01, "engineering": 0x02}
PSK = bytes(range(32))
_chan = itertools.count()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return test_pki.generate(tmp_path_factory.mktemp("pki"))


def _profile(pki, mode):
    p = engine.profile()
    p["modules"] = list(p["modules"]) + ["auth"]
    a = {"mode": mode, "roles": ROLES,
         "provider": CryptographyProvider([pki["root"]["cert"]]),
         "server_key": load_private_key(pki["ecu"]["key"]),
         "server_certificate": pki["ecu"]["chain"].read_bytes()}
    if mode == "acr_sym":
        a["acr"] = {"key": PSK, "role": "engineering"}
    p["authentication"] = a
    p["dids"] = dict(p["dids"])
    p["dids"][0xFD00] = {"length": 4, "value": b"AUTH", "read": {"auth": True}}
    return Profile(p, sources=engine.sources(engine.EngineState()))


class Setup:
    def __init__(self, pki, mode):
        chan = "uds-auth-interop-%d-%d" % (os.getpid(), next(_chan))
        self.bus_ecu = can.Bus(interface="virtual", channel=chan)
        self.bus_tester = can.Bus(interface="virtual", channel=chan)
        self.ecu = build_ecu(_profile(pki, mode))
        self.runner = EcuRunner(self.bus_ecu, self.ecu)
        self.notifier = can.Notifier(self.bus_tester, [], timeout=0.1)
        addr = isotp.Address(isotp.AddressingMode.Normal_11bits, txid=0x7E0, rxid=0x7E8)
        self.stack = isotp.NotifierBasedCanStack(
            self.bus_tester, self.notifier, address=addr,
            params={"blocking_send": True, "rx_flowcontrol_timeout": 5000,
                    "rx_consecutive_frame_timeout": 5000})
        cfg = dict(udsoncan.configs.default_client_config)
        cfg.update({"request_timeout": 60, "p2_timeout": 10, "p2_star_timeout": 30,
                    "use_server_timing": False})
        self.client = Client(PythonIsoTpConnection(self.stack), config=cfg)
        self.client.open()

    def close(self):
        self.client.close()
        self.runner.close()
        self.notifier.stop()
        self.bus_tester.shutdown()
        self.bus_ecu.shutdown()


def _nrc(fn, *args, **kw):
    with pytest.raises(NegativeResponseException) as e:
        fn(*args, **kw)
    return e.value.response.code


def _raw_read(s):
    req = udsoncan.Request(udsoncan.services.ReadDataByIdentifier, data=b"\xFD\x00")
    try:
        return s.client.send_request(req).get_payload()
    except NegativeResponseException as e:
        return e.response.code


@pytest.fixture
def apce(pki):
    s = Setup(pki, "apce")
    yield s
    s.close()


@pytest.fixture
def acr(pki):
    s = Setup(pki, "acr_sym")
    yield s
    s.close()


def test_apce_sub_functions_00_to_04_and_08(pki, apce):
    c = apce.client
    assert c.authentication_configuration().service_data.return_value == 0x02
    assert _raw_read(apce) == 0x34
    chain = pki["tester"]["chain"].read_bytes()
    key = load_private_key(pki["tester"]["key"])
    # 0x01 + 0x03
    r = c.verify_certificate_unidirectional(0x00, chain)
    assert r.service_data.return_value == 0x11
    cs = r.service_data.challenge_server
    pown = sign_with(key, apce_client_content(cs, b"", b""))
    r = c.proof_of_ownership(pown)
    assert r.service_data.return_value == 0x12 and r.service_data.session_key_info == b""
    assert _raw_read(apce) == b"\x62\xFD\x00AUTH"
    # 0x04: an extra certificate for an authenticated tester
    r = c.transmit_certificate(0x0001, pki["tester_ed25519"]["chain"].read_bytes())
    assert r.service_data.return_value == 0x13
    # 0x00
    assert c.deauthenticate().service_data.return_value == 0x10
    assert _raw_read(apce) == 0x34
    # 0x02 + 0x03 with an ephemeral key: check the ECU's proof and derive the session key
    p = CryptographyProvider([pki["root"]["cert"]])
    cc = os.urandom(32)
    r = c.verify_certificate_bidirectional(0x01, chain, cc)
    sd = r.service_data
    assert sd.return_value == 0x11
    code, pub, roles = p.verify_chain(sd.certificate_server, None)
    assert code == 0 and roles == ("ecu",)
    assert p.verify(pub, apce_server_content(cc, sd.challenge_server,
                                             sd.ephemeral_public_key_server),
                    sd.proof_of_ownership_server)
    priv, eph = p.ecdh_keypair()
    pown = sign_with(key, apce_client_content(sd.challenge_server, cc, eph))
    r = c.proof_of_ownership(pown, eph)
    _, ski = session_keys(p.hkdf, p.ecdh(priv, sd.ephemeral_public_key_server),
                          sd.challenge_server)
    assert r.service_data.session_key_info == ski
    # negatives, as udsoncan reports them
    assert _nrc(c.proof_of_ownership, pown, eph) == 0x24            # the challenge is spent
    assert _nrc(c.verify_certificate_unidirectional, 0x00,
                pki["expired"]["chain"].read_bytes()) == 0x50
    assert _nrc(c.verify_certificate_unidirectional, 0x00,
                pki["wrong_ca"]["chain"].read_bytes()) == 0x52
    assert _nrc(c.request_challenge_for_authentication, 0x00, AI_HMAC_SHA256) == 0x12


def test_acr_sub_functions_05_to_07(acr):
    c = acr.client
    assert c.authentication_configuration().service_data.return_value == 0x04
    p = CryptographyProvider()
    r = c.request_challenge_for_authentication(0x00, AI_HMAC_SHA256)
    sd = r.service_data
    assert sd.return_value == 0x00 and sd.algorithm_indicator == AI_HMAC_SHA256
    pown = p.mac(AI_HMAC_SHA256, PSK, acr_client_content(sd.challenge_server, b"", b""))
    r = c.verify_proof_of_ownership_unidirectional(AI_HMAC_SHA256, pown)
    assert r.service_data.return_value == 0x12
    assert _raw_read(acr) == b"\x62\xFD\x00AUTH"
    cc = os.urandom(16)
    cs = c.request_challenge_for_authentication(0x00, AI_HMAC_SHA256) \
        .service_data.challenge_server
    pown = p.mac(AI_HMAC_SHA256, PSK, acr_client_content(cs, cc, b""))
    r = c.verify_proof_of_ownership_bidirectional(AI_HMAC_SHA256, pown, cc)
    assert r.service_data.return_value == 0x12
    assert r.service_data.proof_of_ownership_server == \
        p.mac(AI_HMAC_SHA256, PSK, acr_server_content(cc, cs))
    c.deauthenticate()
    c.request_challenge_for_authentication(0x00, AI_HMAC_SHA256)
    assert _nrc(c.verify_proof_of_ownership_unidirectional, AI_HMAC_SHA256, b"\x00" * 32) == 0x58
    assert _raw_read(acr) == 0x34
