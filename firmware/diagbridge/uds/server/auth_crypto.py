# The crypto provider behind Authentication 0x29 (services/auth.py): the
# primitives the portable state machine needs, and nothing else.  The core
# imports no crypto library; a platform supplies a provider:
#   CPython     diagbridge.cpy.auth_crypto.CryptographyProvider (`cryptography`:
#               X.509 chains, ECDSA P-256, Ed25519, RSA-PSS, ECDH, HKDF, AES-CMAC)
#   MicroPython none: services/auth answers 0x22 conditionsNotCorrect to every
#               sub-function but deAuthenticate, unless a board provider
#               (a subclass of AuthCrypto) supplies the primitives.
#
# Methods (bytes in, bytes out; a peer's bad data is a result, never a raise):
#   verify_chain(chain, now_s) -> (code, public_key, roles)
#       chain: certificateClient as received (the leaf first, then the
#       intermediates up to, not including, a configured root); now_s: the
#       ECU's clock in Unix seconds (None: the provider's own clock).
#       code is 0 or the NRC of §7.7: 0x50 validity period, 0x51 signature,
#       0x52 chain of trust, 0x53 type (key usage), 0x54 format, 0x55 content,
#       0x56 scope, 0x57 revoked.  public_key: an opaque key object the
#       provider's verify() takes; roles: a tuple of role names (str) the
#       certificate grants.
#   verify(public_key, data, signature) -> bool     with the key's own algorithm
#   sign(private_key, data) -> bytes                the server's POWN
#   random(n) -> bytes                              challenges, ephemeral keys
#   ecdh_keypair() -> (private, public_bytes)       an ephemeral key pair
#   ecdh(private, peer_public_bytes) -> bytes | None    the shared secret
#   hkdf(secret, salt, info, n) -> bytes            HKDF-SHA256
#   mac(ai, key, data) -> bytes | None              symmetric ACR (AI_HMAC_SHA256,
#                                                   AI_AES128 ...); None: unsupported
#   acr_verify(ai, public_key, data, signature) -> bool   asymmetric ACR
#   load_public_key(raw) -> key | None              an ACR client public key
#   algorithms() -> tuple of 16-byte AIs            what ACR accepts at 0x05
# The session key and sessionKeyInfo formats are not defined by ISO (§7.7);
# services/auth.py pins the project's (session_key, session_key_info).
from diagbridge.errors import UsageError


class AuthCrypto:
    """The provider interface.  Every primitive raises UsageError until a
    platform overrides it; services/auth only calls what its mode needs."""

    name = "none"

    def _missing(self, what):
        raise UsageError("authentication crypto: %s not available on this platform" % what)

    def verify_chain(self, chain, now_s):
        self._missing("verify_chain")

    def verify(self, public_key, data, signature):
        self._missing("verify")

    def sign(self, private_key, data):
        self._missing("sign")

    def random(self, n):
        self._missing("random")

    def ecdh_keypair(self):
        self._missing("ecdh_keypair")

    def ecdh(self, private, peer_public):
        self._missing("ecdh")

    def hkdf(self, secret, salt, info, n):
        self._missing("hkdf")

    def mac(self, ai, key, data):
        self._missing("mac")

    def acr_verify(self, ai, public_key, data, signature):
        self._missing("acr_verify")

    def load_public_key(self, raw):
        self._missing("load_public_key")

    def algorithms(self):
        return ()


def ct_equal(a, b):
    """Constant-time comparison of two byte strings (MACs, §7.7)."""
    if a is None or b is None or len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0
