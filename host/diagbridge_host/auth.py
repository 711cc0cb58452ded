"""UDS Authentication (0x29, ISO 14229-1:2020 §10.6) through the gateway.

    from diagbridge_host import connect
    from diagbridge_host.auth import authenticate
    with connect(url) as conn, conn.uds(0, tx_id=0x7E0, rx_id=0x7E8) as uds:
        res = authenticate(uds, "tester.chain.der", "tester.key", bidirectional=True,
                           server_roots=["root.pem"])

APCE as the tester: 29 01 (or 29 02: the ECU's certificate is checked against
``server_roots`` and its proof of ownership verified), then 29 03 with the
proof signed by ``private_key`` (ECDSA P-256, Ed25519 or RSA-PSS, from the
key's type) over the project's token, optionally with an ephemeral ECDH
session key whose sessionKeyInfo is checked.  The layouts and the token and
key formats are the shared codec's (``diagbridge.uds.codec.auth``); the
crypto is `cryptography`.  ``uds`` is any object with ``request(bytes)``
returning the response PDU as bytes with ``.nrc`` (``UdsClient.request``).
"""
from __future__ import annotations

import datetime
import os
import secrets
from typing import Any, List, Optional, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import diagbridge.uds.client.api as api
from diagbridge.uds.codec.auth import apce_client_content, apce_server_content, session_keys
from diagbridge.uds.nrc_names import nrc_name
from diagbridge_host.errors import DiagbridgeError

__all__ = ["AuthenticationError", "AuthResult", "authenticate", "deauthenticate",
           "load_chain", "load_key"]

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class AuthenticationError(DiagbridgeError):
    """0x29 failed at sub-function ``step``; ``nrc`` is the ECU's NRC (None
    when this side refused, e.g. the ECU's certificate or proof)."""

    def __init__(self, step: int, message: str, nrc: Optional[int] = None) -> None:
        super().__init__("0x29 %02X: %s" % (step, message))
        self.step = step
        self.nrc = nrc


class AuthResult:
    """``return_value`` (0x12), ``session_key`` (verified, or None),
    ``server_certificate`` (bidirectional) and the raw ``responses``."""

    def __init__(self, return_value: int, session_key: Optional[bytes],
                 server_certificate: Optional[bytes], responses: List[bytes]) -> None:
        self.return_value = return_value
        self.session_key = session_key
        self.server_certificate = server_certificate
        self.responses = responses


def _read(src: Any) -> bytes:
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as f:
            return f.read()
    return bytes(src)


def load_chain(src: Any) -> bytes:
    """certificateClient from PEM (leaf first) or DER bytes, or a path."""
    data = _read(src)
    if b"-----BEGIN" in data:
        return b"".join(c.public_bytes(serialization.Encoding.DER)
                        for c in x509.load_pem_x509_certificates(data))
    return data


def load_key(src: Any) -> Any:
    """A private key object from PEM/DER bytes or a path (unencrypted)."""
    if hasattr(src, "sign"):
        return src
    data = _read(src)
    if b"-----BEGIN" in data:
        return serialization.load_pem_private_key(data, None)
    return serialization.load_der_private_key(data, None)


def _sign(key: Any, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _PSS, hashes.SHA256())
    raise DiagbridgeError("unsupported private key type %s" % type(key).__name__)


def _verify(pub: Any, data: bytes, sig: bytes) -> bool:
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(sig, data)
        elif isinstance(pub, rsa.RSAPublicKey):
            pub.verify(sig, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                              salt_length=padding.PSS.AUTO), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _split_der(blob: bytes) -> List[x509.Certificate]:
    out = []
    p = 0
    while p < len(blob):
        ln = blob[p + 1]
        hdr = 2
        if ln & 0x80:
            k = ln & 0x7F
            ln = int.from_bytes(blob[p + 2:p + 2 + k], "big")
            hdr += k
        out.append(x509.load_der_x509_certificate(blob[p:p + hdr + ln]))
        p += hdr + ln
    return out


def _check_server(chain: bytes, roots: Sequence[Any]) -> Any:
    """The ECU certificate's public key, if its chain reaches one of `roots`."""
    try:
        certs = _split_der(chain)
    except (ValueError, IndexError) as e:
        raise AuthenticationError(0x02, "ECU certificate is not DER: %s" % e) from None
    anchors = []
    for r in roots:
        anchors.extend(x509.load_pem_x509_certificates(_read(r))
                       if b"-----BEGIN" in _read(r) else _split_der(_read(r)))
    now = datetime.datetime.now(datetime.timezone.utc)
    for i, c in enumerate(certs):
        if not c.not_valid_before_utc <= now <= c.not_valid_after_utc:
            raise AuthenticationError(0x02, "ECU certificate outside its validity period")
        issuers = certs[i + 1:i + 2] or [a for a in anchors if a.subject == c.issuer]
        ok = False
        for up in issuers:
            try:
                c.verify_directly_issued_by(up)
                ok = True
            except (InvalidSignature, ValueError, TypeError):
                pass
        if not ok:
            raise AuthenticationError(0x02, "ECU certificate does not chain to the given roots")
    return certs[0].public_key()


def _exchange(uds: Any, req: bytes, step: int, log: List[bytes]) -> dict:
    rsp = uds.request(req)
    data = bytes(rsp)
    log.append(data)
    nrc = getattr(rsp, "nrc", None)
    if nrc is not None:
        raise AuthenticationError(step, "NRC 0x%02X %s" % (nrc, nrc_name(nrc)), nrc)
    d = api.decode_auth(data, len(data))
    if d is None or d["sub_function"] != step:
        raise AuthenticationError(step, "malformed or missing response %r" % data.hex())
    return d


def _hkdf(secret: bytes, salt: bytes, info: bytes, n: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=bytes(salt) or None,
                info=info).derive(bytes(secret))


def authenticate(uds: Any, cert_chain: Any, private_key: Any, *, bidirectional: bool = False,
                 session_key: bool = False, server_roots: Sequence[Any] = ()) -> AuthResult:
    """APCE with certificateClient ``cert_chain`` and its ``private_key``
    (objects, bytes or paths).  Raises AuthenticationError."""
    if bidirectional and not server_roots:
        raise DiagbridgeError("bidirectional authentication needs server_roots")
    key = load_key(private_key)
    chain = load_chain(cert_chain)
    log: List[bytes] = []
    cc = secrets.token_bytes(32) if bidirectional else b""
    step = 0x02 if bidirectional else 0x01
    d = _exchange(uds, api.auth_verify_certificate(chain, cc, 0x01 if session_key else 0x00,
                                                   bidirectional), step, log)
    cs, eph_s = d["challenge_server"], d["ephemeral_public_key_server"]
    server_cert = None
    if bidirectional:
        server_cert = d["certificate_server"]
        pub = _check_server(server_cert, server_roots)
        if not _verify(pub, apce_server_content(cc, cs, eph_s), d["pown_server"]):
            raise AuthenticationError(step, "ECU proof of ownership does not verify")
    priv, eph_c = None, b""
    if session_key:
        priv = ec.generate_private_key(ec.SECP256R1())
        eph_c = priv.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    d3 = _exchange(uds, api.auth_proof_of_ownership(_sign(key, apce_client_content(cs, cc, eph_c)),
                                                    eph_c), 0x03, log)
    sk = None
    if session_key:
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), eph_s)
        except ValueError:
            raise AuthenticationError(0x03, "ECU ephemeral key is not a P-256 point") from None
        sk, ski = session_keys(_hkdf, priv.exchange(ec.ECDH(), peer), cs)
        if d3["session_key_info"] != ski:
            raise AuthenticationError(0x03, "sessionKeyInfo does not match the derived key")
    return AuthResult(d3["return_value"], sk, server_cert, log)


def deauthenticate(uds: Any) -> int:
    """29 00: the return value (0x10 DeAuthentication successful)."""
    return _exchange(uds, api.auth_deauthenticate(), 0x00, [])["return_value"]
