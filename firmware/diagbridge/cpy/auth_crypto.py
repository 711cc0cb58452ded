"""The CPython crypto provider for Authentication 0x29, on `cryptography`.

``CryptographyProvider`` implements ``diagbridge.uds.server.auth_crypto.AuthCrypto``
for ``services/auth.py`` (and the tester helpers in ``cpy/uds/auth.py``):

* X.509 chains (certificateClient = the leaf then its intermediates, DER,
  concatenated) checked against the configured roots: every certificate's
  validity period against the ECU's clock (0x50), each signature by its
  issuer (0x51), a path to a root through CA certificates (0x52), key usage
  (the leaf needs digitalSignature, a CA keyCertSign and basicConstraints
  CA; 0x53), the DER itself (0x54), revocation by serial number or CRL (0x57).
* The role a certificate grants: every subject organizationalUnitName of the
  form ``uds-role:<name>`` names one role (``tools/test_pki.py`` writes them);
  the profile's ``authentication.roles`` maps names to ``auth_role`` bits.
* Proof of ownership with the certificate key's own algorithm: ECDSA P-256
  (SHA-256), Ed25519, RSASSA-PSS (SHA-256, MGF1-SHA-256).
* Ephemeral ECDH on P-256 (X9.62 uncompressed points), HKDF-SHA256.
* Symmetric ACR: ``AI_HMAC_SHA256`` is HMAC-SHA256; ``AI_AES128`` is the
  §10.6.8.6 example (one 16-byte block encrypted with AES-128) and AES-128-CMAC
  for any other message length.  Asymmetric ACR: a signature made with the
  algorithm the AI names (ECDSA-SHA256, Ed25519, RSASSA-PSS) under the
  configured client public key.
"""
from __future__ import annotations

import datetime
import os
import secrets
from typing import Any, Iterable, Optional, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac, hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from diagbridge.uds.codec.auth import (AI_AES128, AI_ECDSA_SHA256, AI_ED25519, AI_HMAC_SHA256,
                                       AI_RSASSA_PSS)
from diagbridge.uds.nrc import (NRC_CVF_ICERT, NRC_CVF_ICOT, NRC_CVF_IF, NRC_CVF_ISIG,
                                NRC_CVF_IT, NRC_CVF_ITP)
from diagbridge.uds.server.auth_crypto import AuthCrypto, ct_equal

ROLE_PREFIX = "uds-role:"
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_PSS_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)


def split_der(blob: bytes) -> Optional[list]:
    """The DER SEQUENCEs concatenated in `blob`, or None if it is not exactly that."""
    out = []
    p = 0
    n = len(blob)
    while p < n:
        if blob[p] != 0x30 or p + 2 > n:
            return None
        ln = blob[p + 1]
        hdr = 2
        if ln & 0x80:
            k = ln & 0x7F
            if k == 0 or k > 3 or p + 2 + k > n:
                return None
            ln = int.from_bytes(blob[p + 2:p + 2 + k], "big")
            hdr = 2 + k
        end = p + hdr + ln
        if end > n:
            return None
        out.append(bytes(blob[p:end]))
        p = end
    return out or None


def load_certificates(data: bytes) -> list:
    """Certificates from PEM or DER bytes, or a path to such a file."""
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            data = f.read()
    data = bytes(data)
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    ders = split_der(data)
    if ders is None:
        raise ValueError("not DER certificates")
    return [x509.load_der_x509_certificate(d) for d in ders]


def load_private_key(data: bytes, password: Optional[bytes] = None) -> Any:
    """A private key from PEM/DER bytes or a path."""
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            data = f.read()
    data = bytes(data)
    if b"-----BEGIN" in data:
        return serialization.load_pem_private_key(data, password)
    return serialization.load_der_private_key(data, password)


def chain_der(certs: Iterable[x509.Certificate]) -> bytes:
    """certificateClient/certificateServer: the DER certificates concatenated."""
    return b"".join(c.public_bytes(serialization.Encoding.DER) for c in certs)


def roles_of(cert: x509.Certificate) -> tuple:
    """The role names a certificate grants (subject OU ``uds-role:<name>``)."""
    out = []
    for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME):
        v = a.value if isinstance(a.value, str) else a.value.decode()
        if v.startswith(ROLE_PREFIX):
            out.append(v[len(ROLE_PREFIX):])
    return tuple(out)


def sign_with(private_key: Any, data: bytes) -> bytes:
    """A signature with the key's own algorithm (ECDSA-SHA256, Ed25519, RSA-PSS)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, _PSS, hashes.SHA256())
    raise TypeError("unsupported private key type %s" % type(private_key).__name__)


def verify_with(public_key: Any, data: bytes, signature: bytes) -> bool:
    """True if `signature` over `data` verifies with the key's own algorithm."""
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, _PSS_VERIFY, hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _key_usage(cert: x509.Certificate) -> Any:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    ku = _key_usage(cert)
    return bc.ca and (ku is None or ku.key_cert_sign)


class CryptographyProvider(AuthCrypto):
    """AuthCrypto on `cryptography` (see the module docstring).

    roots: trust anchors (PEM/DER bytes, paths, or x509.Certificate objects);
    revoked_serials: serial numbers the OEM list revokes; crls: x509 CRLs
    (or PEM/DER bytes) issued by a root or an intermediate."""

    name = "cryptography"

    def __init__(self, roots: Sequence = (), revoked_serials: Iterable[int] = (),
                 crls: Sequence = ()) -> None:
        self.roots: list = []
        self.add_roots(roots)
        self.revoked = set(revoked_serials)
        self.crls = []
        for c in crls:
            if isinstance(c, x509.CertificateRevocationList):
                self.crls.append(c)
            elif b"-----BEGIN" in bytes(c):
                self.crls.append(x509.load_pem_x509_crl(bytes(c)))
            else:
                self.crls.append(x509.load_der_x509_crl(bytes(c)))

    def add_roots(self, roots: Sequence) -> None:
        """More trust anchors (PEM/DER bytes, paths or certificates)."""
        for r in roots:
            if isinstance(r, x509.Certificate):
                self.roots.append(r)
            else:
                self.roots.extend(load_certificates(r))

    # ---- certificates ----------------------------------------------------------
    def verify_chain(self, chain: bytes, now_s: Optional[float]) -> Any:
        """(0 or NRC 0x50-0x57, leaf public key, role names) for certificateClient."""
        ders = split_der(bytes(chain))
        if ders is None:
            return NRC_CVF_IF, None, ()
        try:
            certs = [x509.load_der_x509_certificate(d) for d in ders]
        except ValueError:
            return NRC_CVF_IF, None, ()
        now = datetime.datetime.fromtimestamp(
            now_s if now_s is not None else datetime.datetime.now().timestamp(),
            datetime.timezone.utc)
        for c in certs:
            if not c.not_valid_before_utc <= now <= c.not_valid_after_utc:
                return NRC_CVF_ITP, None, ()
        for i, c in enumerate(certs):
            if i + 1 < len(certs):
                up = certs[i + 1]
                if up.subject != c.issuer or not _is_ca(up):
                    return NRC_CVF_ICOT, None, ()
                if not _issued_by(c, up):
                    return NRC_CVF_ISIG, None, ()
            else:
                anchors = [r for r in self.roots if r.subject == c.issuer]
                if not anchors:
                    return NRC_CVF_ICOT, None, ()
                if not any(_issued_by(c, r) for r in anchors):
                    return NRC_CVF_ISIG, None, ()
            if self._is_revoked(c):
                return NRC_CVF_ICERT, None, ()
        leaf = certs[0]
        ku = _key_usage(leaf)
        if ku is None or not ku.digital_signature:
            return NRC_CVF_IT, None, ()
        return 0, leaf.public_key(), roles_of(leaf)

    def _is_revoked(self, cert: x509.Certificate) -> bool:
        if cert.serial_number in self.revoked:
            return True
        for crl in self.crls:
            if crl.issuer == cert.issuer and \
                    crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                return True
        return False

    # ---- signatures --------------------------------------------------------------
    def verify(self, public_key: Any, data: bytes, signature: bytes) -> bool:
        return verify_with(public_key, bytes(data), bytes(signature))

    def sign(self, private_key: Any, data: bytes) -> bytes:
        return sign_with(private_key, bytes(data))

    def random(self, n: int) -> bytes:
        return secrets.token_bytes(n)

    # ---- key agreement -----------------------------------------------------------
    def ecdh_keypair(self) -> Any:
        k = ec.generate_private_key(ec.SECP256R1())
        return k, k.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)

    def ecdh(self, private: Any, peer_public: bytes) -> Optional[bytes]:
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(peer_public))
            return private.exchange(ec.ECDH(), peer)
        except (ValueError, TypeError):
            return None

    def hkdf(self, secret: bytes, salt: bytes, info: bytes, n: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=n, salt=bytes(salt) or None,
                    info=bytes(info)).derive(bytes(secret))

    # ---- ACR -----------------------------------------------------------------------
    def mac(self, ai: bytes, key: bytes, data: bytes) -> Optional[bytes]:
        data = bytes(data)
        if ai == AI_HMAC_SHA256:
            h = hmac.HMAC(bytes(key), hashes.SHA256())
            h.update(data)
            return h.finalize()
        if ai == AI_AES128 and len(key) == 16:
            if len(data) == 16:         # the §10.6.8.6 example: AES-128 of the challenge
                enc = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
                return enc.update(data) + enc.finalize()
            c = cmac.CMAC(algorithms.AES(bytes(key)))
            c.update(data)
            return c.finalize()
        return None

    def acr_verify(self, ai: bytes, public_key: Any, data: bytes, signature: bytes) -> bool:
        want = {AI_ECDSA_SHA256: ec.EllipticCurvePublicKey,
                AI_ED25519: ed25519.Ed25519PublicKey,
                AI_RSASSA_PSS: rsa.RSAPublicKey}.get(bytes(ai))
        if want is None or not isinstance(public_key, want):
            return False                # the AI names another algorithm than the key's
        return verify_with(public_key, bytes(data), bytes(signature))

    def load_public_key(self, raw: Any) -> Any:
        """A public key from PEM/DER (SubjectPublicKeyInfo or a certificate), or None."""
        if not isinstance(raw, (bytes, bytearray)):
            return raw if hasattr(raw, "public_bytes") else None
        raw = bytes(raw)
        for loader in (serialization.load_pem_public_key, serialization.load_der_public_key):
            try:
                return loader(raw)
            except (ValueError, TypeError):
                pass
        try:
            return load_certificates(raw)[0].public_key()
        except (ValueError, TypeError):
            return None

    def algorithms(self) -> tuple:
        return (AI_HMAC_SHA256, AI_AES128, AI_ECDSA_SHA256, AI_ED25519, AI_RSASSA_PSS)


def secure_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison (re-exported for the tester helpers)."""
    return ct_equal(a, b)


def install(srv: Any, clock: Any = None, revoked_serials: Iterable[int] = (), crls: Sequence = ()) -> Any:
    """Give a UdsServer's 0x29 (services/auth) a CryptographyProvider built
    from its profile's "authentication" section as a file profile writes it:
    "roots" (paths or PEM/DER), "server_key" and "server_certificate" (a path,
    PEM or DER; the certificate may be a PEM chain, leaf first).  The provider."""
    from diagbridge.uds.server.services.auth import set_provider
    ctx = srv.uds_auth
    raw = (getattr(srv.profile, "raw", None) or {}).get("authentication") or {}
    key = raw.get("server_key")
    if key is not None and not hasattr(key, "sign"):
        ctx.server_key = load_private_key(key)
    cert = raw.get("server_certificate")
    if isinstance(cert, (str, os.PathLike)) or (isinstance(cert, (bytes, bytearray))
                                                  and b"-----BEGIN" in bytes(cert)):
        ctx.server_cert = chain_der(load_certificates(cert))
    p = CryptographyProvider(revoked_serials=revoked_serials, crls=crls)
    set_provider(srv, p, clock, ctx)
    return p
