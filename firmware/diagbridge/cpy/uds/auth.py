"""The tester side of Authentication 0x29 on CPython (ISO 14229-1:2020 §10.6).

``authenticate(uds_client, cert_chain, private_key)`` runs APCE against an
ECU: 29 01 (or 29 02 with ``bidirectional=True``: the ECU's certificate is
checked against ``server_roots`` and its proof of ownership verified), then
29 03 with a proof signed by ``private_key`` over the project's token
(``uds/codec/auth.py``), optionally with an ephemeral ECDH key agreement
(``session_key=True``) whose sessionKeyInfo is verified before the key is
returned.  ``authenticate_acr`` runs 29 05 / 29 06 (or 07) with a symmetric
key or a private key.

Any object with ``request(bytes) -> response`` works as ``uds_client``: the
blocking ``diagbridge.cpy.uds.client.UdsClient`` (``Response``: ``nrc`` and
``data``) and the host library's ``UdsClient`` (``UdsResponse``: the bytes
themselves and ``nrc``).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from diagbridge.cpy.auth_crypto import CryptographyProvider, load_certificates, chain_der
from diagbridge.errors import DiagbridgeError
from diagbridge.uds.client import api
from diagbridge.uds.codec.auth import (acr_client_content, acr_server_content,
                                       apce_client_content, apce_server_content, session_keys)
from diagbridge.uds.nrc_names import nrc_name


class AuthenticationError(DiagbridgeError):
    """The exchange failed: ``step`` (the sub-function), ``nrc`` (None when
    the tester itself refused, e.g. the ECU's proof did not verify)."""

    def __init__(self, step: int, message: str, nrc: Optional[int] = None) -> None:
        super().__init__("0x29 %02X: %s" % (step, message))
        self.step = step
        self.nrc = nrc


class AuthResult:
    """A completed authentication: ``return_value`` (0x12), the ECU's
    ``server_certificate`` (bidirectional), the verified ``session_key`` (or
    None) and every response received (``responses``)."""

    def __init__(self, return_value: int, session_key: Optional[bytes],
                 server_certificate: Optional[bytes], responses: list) -> None:
        self.return_value = return_value
        self.session_key = session_key
        self.server_certificate = server_certificate
        self.responses = responses

    def __repr__(self) -> str:
        return "AuthResult(rv=0x%02X, session_key=%s)" % (
            self.return_value, "yes" if self.session_key else "no")


def _pdu(rsp: Any) -> bytes:
    data = getattr(rsp, "data", None)
    return bytes(rsp if data is None or isinstance(rsp, (bytes, bytearray)) else data)


def _exchange(client: Any, req: bytes, step: int, log: list) -> dict:
    rsp = client.request(req)
    nrc = getattr(rsp, "nrc", None)
    data = _pdu(rsp)
    log.append(data)
    if nrc is not None:
        raise AuthenticationError(step, "NRC 0x%02X %s" % (nrc, nrc_name(nrc)), nrc)
    d = api.decode_auth(data, len(data))
    if d is None or d["sub_function"] != step:
        raise AuthenticationError(step, "malformed response %s" % data.hex())
    return d


def _as_chain(cert_chain: Any) -> bytes:
    if isinstance(cert_chain, (list, tuple)):
        return chain_der(cert_chain)
    return chain_der(load_certificates(cert_chain))


def authenticate(uds_client: Any, cert_chain: Any, private_key: Any, *,
                 bidirectional: bool = False, session_key: bool = False,
                 server_roots: Sequence = (), challenge_len: int = 32,
                 provider: Optional[CryptographyProvider] = None) -> AuthResult:
    """APCE as the tester.  cert_chain: PEM/DER bytes, a path, or a list of
    x509 certificates (the leaf first); private_key: a `cryptography` private
    key or PEM/DER bytes / a path.  Raises AuthenticationError."""
    from diagbridge.cpy.auth_crypto import load_private_key
    if not hasattr(private_key, "sign"):
        private_key = load_private_key(private_key)
    p = provider or CryptographyProvider(server_roots)
    chain = _as_chain(cert_chain)
    log: list = []
    cc = p.random(challenge_len) if bidirectional else b""
    comm = 0x01 if session_key else 0x00
    step = 0x02 if bidirectional else 0x01
    d = _exchange(uds_client, api.auth_verify_certificate(chain, cc, comm, bidirectional),
                  step, log)
    cs = d["challenge_server"]
    eph_s = d["ephemeral_public_key_server"]
    server_cert = None
    if bidirectional:
        server_cert = d["certificate_server"]
        code, pub, _roles = p.verify_chain(server_cert, None)
        if code:
            raise AuthenticationError(step, "ECU certificate refused (0x%02X %s)"
                                      % (code, nrc_name(code)))
        if not p.verify(pub, apce_server_content(cc, cs, eph_s), d["pown_server"]):
            raise AuthenticationError(step, "ECU proof of ownership does not verify")
    eph_priv, eph_c = (None, b"")
    if session_key:
        if not eph_s:
            raise AuthenticationError(step, "ECU sent no ephemeral public key")
        eph_priv, eph_c = p.ecdh_keypair()
    pown = p.sign(private_key, apce_client_content(cs, cc, eph_c))
    d3 = _exchange(uds_client, api.auth_proof_of_ownership(pown, eph_c), 0x03, log)
    key = None
    if session_key:
        shared = p.ecdh(eph_priv, eph_s)
        if shared is None:
            raise AuthenticationError(0x03, "ECU ephemeral key is not a P-256 point")
        key, ski = session_keys(p.hkdf, shared, cs)
        if d3["session_key_info"] != ski:
            raise AuthenticationError(0x03, "sessionKeyInfo does not match the derived key")
    return AuthResult(d3["return_value"], key, server_cert, log)


def authenticate_acr(uds_client: Any, ai: bytes, *, key: Optional[bytes] = None,
                     private_key: Any = None, bidirectional: bool = False,
                     session_key: bool = False, challenge_len: int = 32,
                     provider: Optional[CryptographyProvider] = None) -> AuthResult:
    """ACR as the tester: a symmetric `key` (MAC per `ai`) or a `private_key`
    (a signature); bidirectional checks the ECU's MAC over our challenge."""
    p = provider or CryptographyProvider()
    log: list = []
    d = _exchange(uds_client, api.auth_request_challenge(ai, 0x01 if session_key else 0x00),
                  0x05, log)
    cs = d["challenge_server"]
    cc = p.random(challenge_len) if bidirectional else b""
    content = acr_client_content(cs, cc, b"")
    if key is not None:
        pown = p.mac(ai, key, content)
        if pown is None:
            raise AuthenticationError(0x06, "no MAC for this algorithmIndicator")
    else:
        pown = p.sign(private_key, content)
    step = 0x07 if bidirectional else 0x06
    d6 = _exchange(uds_client, api.auth_verify_pown(ai, pown, cc, b"", bidirectional), step, log)
    if bidirectional and key is not None and \
            d6["pown_server"] != p.mac(ai, key, acr_server_content(cc, cs)):
        raise AuthenticationError(step, "ECU proof of ownership does not verify")
    sk = None
    if session_key and key is not None:
        sk, ski = session_keys(p.hkdf, key, cs + cc)
        if d6["session_key_info"] != ski:
            raise AuthenticationError(step, "sessionKeyInfo does not match the derived key")
    return AuthResult(d6["return_value"], sk, None, log)


def deauthenticate(uds_client: Any) -> int:
    """29 00; the return value (0x10 DeAuthentication successful)."""
    return _exchange(uds_client, api.auth_deauthenticate(), 0x00, [])["return_value"]
