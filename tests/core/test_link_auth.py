# HMAC-SHA256 over an injected hash (RFC 4231 vectors), constant-time compare,
# the authentication message, and challenges that never repeat.
import hashlib

from diagbridge.errors import ConfigError
from diagbridge.link import proto as P
from diagbridge.link.auth import (hmac_sha256, ct_equal, auth_message, auth_mac, NonceSource,
                                  WHO_HOST, WHO_GATEWAY)
from support import raises

RFC4231 = (
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)


def test_hmac_sha256_rfc4231():
    for key, data, mac in RFC4231:
        assert hmac_sha256(hashlib.sha256, key, data) == bytes.fromhex(mac)


def test_ct_equal():
    assert ct_equal(b"abc", b"abc")
    assert not ct_equal(b"abc", b"abd")
    assert not ct_equal(b"abc", b"ab")
    assert ct_equal(b"", b"")


def test_auth_message_layout():
    g = bytes(range(16))
    h = bytes(range(16, 32))
    m = auth_message(WHO_HOST, 0x0102, P.ROLE_DIAGNOSTIC, g, h)
    assert m == g + b"DBLINK" + b"H" + b"\x01\x02\x02" + h
    assert raises(ConfigError, auth_message, WHO_HOST, 1, 1, g[:15], h)


def test_host_and_gateway_macs_differ_and_bind_the_role():
    g = bytes(16)
    h = bytes(range(16))
    key = b"k" * 32
    a = auth_mac(hashlib.sha256, key, WHO_HOST, 1, P.ROLE_FULL, g, h)
    assert a != auth_mac(hashlib.sha256, key, WHO_GATEWAY, 1, P.ROLE_FULL, g, h)
    assert a != auth_mac(hashlib.sha256, key, WHO_HOST, 1, P.ROLE_MONITOR, g, h)
    assert a != auth_mac(hashlib.sha256, key, WHO_HOST, 2, P.ROLE_FULL, g, h)


def test_challenges_never_repeat_even_with_a_broken_random_source():
    src = NonceSource(lambda n: bytes(n))           # always zeros
    seen = []
    for _ in range(100):
        x = src.next()
        assert len(x) == P.NONCE_LEN and x not in seen
        seen.append(x)
    assert raises(ConfigError, NonceSource(lambda n: b"short").next)
