# HmacTestCrypto: a deterministic, pure-Python AuthCrypto for the portable
# 0x29 tests, so the state machine runs the same on CPython and MicroPython.
# NOT SECURE and never for an ECU: a "certificate" is a compact TLV signed
# with HMAC-SHA256 under its issuer's key, a "public key" is the holder's
# HMAC key (a symmetric stand-in for a key pair), and the ephemeral key
# agreement is finite-field Diffie-Hellman modulo 2^127 - 1.  The real
# provider (X.509, ECDSA, Ed25519, ECDH) is diagbridge.cpy.auth_crypto.
#
# Test certificate (all big-endian):
#   "TC" issuer_id(1) subject_id(1) not_before(4) not_after(4) flags(1)
#   role_len(1) role key(32) | HMAC-SHA256(issuer key, everything before)(32)
#   flags: FLAG_CA (may issue), FLAG_SIGN (digitalSignature key usage)
# A chain is the leaf followed by its intermediates, concatenated.
import hashlib

from diagbridge.link.auth import hmac_sha256
from diagbridge.uds.codec.auth import AI_HMAC_SHA256
from diagbridge.uds.server.auth_crypto import AuthCrypto, ct_equal
from diagbridge.uds.nrc import (NRC_CVF_ITP, NRC_CVF_ISIG, NRC_CVF_ICOT, NRC_CVF_IT,
                                NRC_CVF_IF, NRC_CVF_ICERT)

FLAG_CA = 0x01
FLAG_SIGN = 0x02
_DH_P = (1 << 127) - 1
_DH_G = 3
NOW_S = 1800000000                  # the tests' ECU clock (2027-01-15)
ROOT_ID = 1
ROOT_KEY = b"R" * 32


def hmac(key, msg):
    return hmac_sha256(hashlib.sha256, key, msg)


def make_cert(issuer_key, issuer_id, subject_id, key, role="workshop",
              not_before=NOW_S - 3600, not_after=NOW_S + 86400, flags=FLAG_SIGN):
    r = role.encode()
    body = bytearray(b"TC")
    body.append(issuer_id)
    body.append(subject_id)
    body.extend(not_before.to_bytes(4, "big"))
    body.extend(not_after.to_bytes(4, "big"))
    body.append(flags)
    body.append(len(r))
    body.extend(r)
    body.extend(key)
    return bytes(body) + hmac(issuer_key, bytes(body))


def _parse(chain, p):
    """(fields, next position) of the certificate at chain[p:], or None."""
    if p + 16 > len(chain) or chain[p:p + 2] != b"TC":
        return None
    rl = chain[p + 13]
    end = p + 14 + rl + 64
    if end > len(chain):
        return None
    body = chain[p:end - 32]
    return (chain[p + 2], chain[p + 3], int.from_bytes(chain[p + 4:p + 8], "big"),
            int.from_bytes(chain[p + 8:p + 12], "big"), chain[p + 12],
            bytes(chain[p + 14:p + 14 + rl]).decode(), bytes(chain[end - 64:end - 32]),
            body, bytes(chain[end - 32:end])), end


class HmacTestCrypto(AuthCrypto):
    name = "hmac-test"

    def __init__(self, roots=None, revoked=(), seed=b"seed"):
        self.roots = roots if roots is not None else {ROOT_ID: ROOT_KEY}
        self.revoked = revoked
        self._seed = seed
        self._ctr = 0
        self.fixed_random = None    # bytes: every random() returns them (replay tests)

    def verify_chain(self, chain, now_s):
        certs = []
        p = 0
        while p < len(chain):
            r = _parse(chain, p)
            if r is None:
                return NRC_CVF_IF, None, ()
            certs.append(r[0])
            p = r[1]
        if not certs:
            return NRC_CVF_IF, None, ()
        for c in certs:
            if now_s is None or not c[2] <= now_s <= c[3]:
                return NRC_CVF_ITP, None, ()
        for i in range(len(certs)):
            c = certs[i]
            if i + 1 < len(certs):
                up = certs[i + 1]
                if up[1] != c[0] or not up[4] & FLAG_CA:
                    return NRC_CVF_ICOT, None, ()
                key = up[6]
            else:
                key = self.roots.get(c[0])
                if key is None:
                    return NRC_CVF_ICOT, None, ()
            if not ct_equal(hmac(key, c[7]), c[8]):
                return NRC_CVF_ISIG, None, ()
            if c[1] in self.revoked:
                return NRC_CVF_ICERT, None, ()
        leaf = certs[0]
        if not leaf[4] & FLAG_SIGN:
            return NRC_CVF_IT, None, ()
        return 0, leaf[6], (leaf[5],)

    def verify(self, public_key, data, signature):
        return ct_equal(hmac(public_key, data), signature)

    def sign(self, private_key, data):
        return hmac(private_key, data)

    def random(self, n):
        if self.fixed_random is not None:
            return self.fixed_random[0:n]
        out = b""
        while len(out) < n:
            self._ctr += 1
            out += hashlib.sha256(self._seed + self._ctr.to_bytes(4, "big")).digest()
        return out[0:n]

    def ecdh_keypair(self):
        x = int.from_bytes(self.random(16), "big") % (_DH_P - 2) + 1
        return x, pow(_DH_G, x, _DH_P).to_bytes(16, "big")

    def ecdh(self, private, peer_public):
        if len(peer_public) != 16:
            return None
        y = int.from_bytes(peer_public, "big")
        if not 1 < y < _DH_P - 1:
            return None
        return pow(y, private, _DH_P).to_bytes(16, "big")

    def hkdf(self, secret, salt, info, n):
        prk = hmac(salt if salt else b"\x00" * 32, secret)
        out = b""
        t = b""
        i = 1
        while len(out) < n:
            t = hmac(prk, t + info + bytes((i,)))
            out += t
            i += 1
        return out[0:n]

    def mac(self, ai, key, data):
        return hmac(key, data) if ai == AI_HMAC_SHA256 else None

    def acr_verify(self, ai, public_key, data, signature):
        return ai == AI_HMAC_SHA256 and ct_equal(hmac(public_key, data), signature)

    def load_public_key(self, raw):
        return bytes(raw) if len(raw) == 32 else None

    def algorithms(self):
        return (AI_HMAC_SHA256,)

