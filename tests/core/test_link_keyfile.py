# The key-file format (link/keyfile.py): one parser for the daemon, a board
# and the CLI; its own hex and base64 decoders, so it runs on MicroPython.
from diagbridge.errors import ConfigError
from diagbridge.link.keyfile import parse_keys, key_value, value_bytes, key_for_role
from diagbridge.link.proto import ROLE_MONITOR, ROLE_DIAGNOSTIC, ROLE_FULL
from support import raises

FULL = b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\xfe\xff"


def test_every_encoding_and_role():
    text = ("# comment\n\nfull: base64:AAECAwQFBgcICQoLDA0OD/7/\n"
            "diagnostic: hex:00112233445566778899AABBCCDDEEFF\n"
            "monitor:   plain text key of the monitor  \n")
    keys = parse_keys(text)
    assert keys == ((ROLE_FULL, FULL),
                    (ROLE_DIAGNOSTIC, value_bytes("hex:00112233445566778899aabbccddeeff")),
                    (ROLE_MONITOR, b"plain text key of the monitor"))
    assert key_for_role(keys, ROLE_MONITOR) == b"plain text key of the monitor"
    assert key_for_role(keys[:1], ROLE_DIAGNOSTIC) == FULL     # a higher role's key
    assert key_for_role(keys[2:], ROLE_FULL) is None
    assert parse_keys("just-one-bare-line-key\n") == ((ROLE_FULL, b"just-one-bare-line-key"),)


def test_base64_decoder_matches_the_standard_vectors():
    # RFC 4648 section 10 vectors (values shorter than a key go through value_bytes)
    for plain, enc in ((b"f", "Zg=="), (b"fo", "Zm8="), (b"foo", "Zm9v"), (b"foob", "Zm9vYg=="),
                       (b"fooba", "Zm9vYmE="), (b"foobar", "Zm9vYmFy")):
        assert value_bytes("base64:" + enc) == plain, enc


def test_bad_values_are_config_errors_that_quote_nothing():
    for bad in ("base64:Zm9", "base64:Zm9v!===", "base64:Zh==", "base64:", "hex:abc",
                "hex:zz", "short"):
        try:
            key_value(bad, "key")
            assert False, bad
        except ConfigError as e:
            assert "Zm9" not in str(e) and "abc" not in str(e) and "zz" not in str(e), bad
    for text in ("x: y\nz: w", "", "# only a comment\n", "full: a-long-enough-key-1\n"
                 "full: a-long-enough-key-2\n"):
        assert raises(ConfigError, parse_keys, text), text
