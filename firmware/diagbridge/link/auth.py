# Host-link authentication: HMAC-SHA256 (RFC 2104) over an injected SHA-256.
#
# The core imports no hashlib: the caller passes a constructor `sha256()`
# returning an object with update() and digest() (CPython and MicroPython
# hashlib.sha256 both qualify).  The pre-shared key never crosses the link;
# each side proves it knows the key by answering the other side's nonce:
#
#   auth_message(who, version, role, gw_nonce, host_nonce) =
#       gw_nonce(16) || b"DBLINK" || who (b"H" host, b"G" gateway)
#       || version (2 bytes, big-endian) || role (1 byte) || host_nonce(16)
#   MAC = HMAC-SHA256(key, auth_message(...))
#
# Binding the version and the role stops a captured answer being reused for
# another role or protocol; the gateway's nonce (random bytes plus a counter,
# so it never repeats within a boot even with a weak random source) stops
# replay.  Handshakes are rare, so these functions allocate.
#
# A keyed login also yields the session's two frame-MAC keys (mac.py), one
# per sending side, from the same inputs under another label:
#
#   session_key(who) = HMAC-SHA256(key, b"DBLINK-KEY" || who || version(2)
#                                  || role || gw_nonce(16) || host_nonce(16))
#
# The message is 46 bytes and the label comes first, so it never equals an
# auth_message (42 bytes): neither proof sent at login is a session key.
from diagbridge._compat import const
from diagbridge.errors import ConfigError
from diagbridge.link.proto import NONCE_LEN

WHO_HOST = b"H"
WHO_GATEWAY = b"G"
_LABEL = b"DBLINK"
_BLOCK = const(64)
MIN_KEY_LEN = const(16)


def hmac_sha256(sha256, key, msg):
    """HMAC-SHA256(key, msg) as 32 bytes."""
    if len(key) > _BLOCK:
        h = sha256()
        h.update(key)
        key = h.digest()
    k = bytearray(_BLOCK)
    for i in range(len(key)):
        k[i] = key[i]
    for i in range(_BLOCK):
        k[i] ^= 0x36
    inner = sha256()
    inner.update(k)
    inner.update(msg)
    d = inner.digest()
    for i in range(_BLOCK):
        k[i] ^= 0x36 ^ 0x5C
    outer = sha256()
    outer.update(k)
    outer.update(d)
    return outer.digest()


def ct_equal(a, b):
    """Compare two byte strings in time independent of where they differ."""
    if len(a) != len(b):
        return False
    acc = 0
    for i in range(len(a)):
        acc |= a[i] ^ b[i]
    return acc == 0


def auth_message(who, version, role, gw_nonce, host_nonce):
    if len(gw_nonce) != NONCE_LEN or len(host_nonce) != NONCE_LEN:
        raise ConfigError("nonce length")
    m = bytearray(2 * NONCE_LEN + len(_LABEL) + 4)
    i = 0
    for b in gw_nonce:
        m[i] = b
        i += 1
    for b in _LABEL:
        m[i] = b
        i += 1
    m[i] = who[0]
    m[i + 1] = (version >> 8) & 0xFF
    m[i + 2] = version & 0xFF
    m[i + 3] = role
    i += 4
    for b in host_nonce:
        m[i] = b
        i += 1
    return bytes(m)


def auth_mac(sha256, key, who, version, role, gw_nonce, host_nonce):
    return hmac_sha256(sha256, key, auth_message(who, version, role, gw_nonce, host_nonce))


class NonceSource:
    """Gateway challenges: 12 bytes from the injected `urandom(n)` then a
    32-bit counter, so two challenges of one boot never repeat."""

    def __init__(self, urandom):
        self._urandom = urandom
        self._count = 0

    def next(self):
        r = self._urandom(NONCE_LEN - 4)
        if len(r) != NONCE_LEN - 4:
            raise ConfigError("urandom")
        self._count = (self._count + 1) & 0x3FFFFFFF
        c = self._count
        out = bytearray(NONCE_LEN)
        for i in range(NONCE_LEN - 4):
            out[i] = r[i]
        for i in range(4):
            out[NONCE_LEN - 1 - i] = (c >> (8 * i)) & 0xFF
        return bytes(out)


_KEY_LABEL = b"DBLINK-KEY"


def session_key(sha256, key, who, version, role, gw_nonce, host_nonce):
    """The 32-byte key that signs the frames `who` (WHO_HOST / WHO_GATEWAY)
    sends in the session opened by this login."""
    if len(gw_nonce) != NONCE_LEN or len(host_nonce) != NONCE_LEN:
        raise ConfigError("nonce length")
    m = bytearray(len(_KEY_LABEL) + 4 + 2 * NONCE_LEN)
    i = 0
    for b in _KEY_LABEL:
        m[i] = b
        i += 1
    m[i] = who[0]
    m[i + 1] = (version >> 8) & 0xFF
    m[i + 2] = version & 0xFF
    m[i + 3] = role
    i += 4
    for b in gw_nonce:
        m[i] = b
        i += 1
    for b in host_nonce:
        m[i] = b
        i += 1
    return hmac_sha256(sha256, key, bytes(m))
