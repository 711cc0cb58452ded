# The key-file format, once for every reader (the CPython daemon, a board's
# main.py, the laptop CLI).  Portable: its own hex and base64 decoders, so a
# board needs no binascii.  Not on any hot path.
#
#   # /etc/diagbridge/key  (chmod 600)
#   full: a-long-random-secret-of-16-bytes-or-more
#   diagnostic: base64:q83vEjRWeJq8zN7wEjRWeA==
#   monitor: hex:00112233445566778899aabbccddeeff
#
# One `ROLE: KEY` line per role (monitor, diagnostic, full); a file with one
# bare line holds the full role's key.  A value is text (UTF-8), `hex:...` or
# `base64:...` (padded); a key is at least MIN_KEY_LEN bytes.  No error text
# ever quotes any part of a value.
#
#   parse_keys(text, where) -> ((role, key), ...)   highest role first
#   key_value(text, where) -> bytes                 one key (e.g. --key)
#   value_bytes(text, where) -> bytes               the same encodings, any length
#   key_for_role(keys, role) -> bytes | None        the key proving `role`:
#                                                   its own or a higher one's
from diagbridge.errors import ConfigError
from diagbridge.link.auth import MIN_KEY_LEN
from diagbridge.link.proto import ROLE_MONITOR, ROLE_DIAGNOSTIC, ROLE_FULL

ROLE_WORDS = (("monitor", ROLE_MONITOR), ("diagnostic", ROLE_DIAGNOSTIC), ("full", ROLE_FULL))
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _role(word):
    for w, r in ROLE_WORDS:
        if w == word:
            return r
    return -1


def _role_word(role):
    for w, r in ROLE_WORDS:
        if r == role:
            return w
    return "?"


def _hex(s):
    if len(s) % 2:
        return None
    out = bytearray(len(s) // 2)
    for i in range(len(out)):
        hi = "0123456789abcdef".find(s[2 * i].lower())
        lo = "0123456789abcdef".find(s[2 * i + 1].lower())
        if hi < 0 or lo < 0:
            return None
        out[i] = (hi << 4) | lo
    return bytes(out)


def _base64(s):
    if not s or len(s) % 4:
        return None
    pad = 2 if s.endswith("==") else 1 if s.endswith("=") else 0
    body = s[:len(s) - pad]
    out = bytearray()
    acc = 0
    bits = 0
    for c in body:
        v = _B64.find(c)
        if v < 0:
            return None
        acc = ((acc << 6) | v) & 0xFFFFFF
        bits += 6
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if acc & ((1 << bits) - 1):
        return None                     # non-canonical: bits set in the padding
    return bytes(out)


def value_bytes(text, where="value"):
    """Text, hex:... or base64:... -> bytes; ConfigError if the encoding is bad."""
    if text.startswith("hex:"):
        key = _hex(text[4:].strip())
        if key is None:
            raise ConfigError(where + ": bad hex: value (an even number of hex digits)")
    elif text.startswith("base64:"):
        key = _base64(text[7:].strip())
        if key is None:
            raise ConfigError(where + ": bad base64: value (padded base64)")
    else:
        key = text.encode("utf-8")
    return key


def key_value(text, where="key"):
    """One key value (as value_bytes); ConfigError if bad or shorter than MIN_KEY_LEN."""
    key = value_bytes(text, where)
    if len(key) < MIN_KEY_LEN:
        raise ConfigError("%s: a key needs at least %d bytes, this one has %d"
                          % (where, MIN_KEY_LEN, len(key)))
    return key


def parse_keys(text, where="key file"):
    """A key file's text -> ((role, key), ...), highest role first."""
    lines = []
    no = 0
    for ln in text.splitlines():
        no += 1
        ln = ln.strip()
        if ln and not ln.startswith("#"):
            lines.append((no, ln))
    keys = []
    for no, ln in lines:
        i = ln.find(":")
        role = _role(ln[:i].strip()) if i > 0 else -1
        if role >= 0:
            value = ln[i + 1:].strip()
        elif len(lines) == 1:
            role, value = ROLE_FULL, ln
        else:
            raise ConfigError("%s, line %d: write `ROLE: KEY` (ROLE monitor, diagnostic or "
                              "full)" % (where, no))
        for r, _ in keys:
            if r == role:
                raise ConfigError("%s, line %d: a second key for the %s role"
                                  % (where, no, _role_word(role)))
        keys.append((role, key_value(value, "%s, line %d" % (where, no))))
    if not keys:
        raise ConfigError(where + ": no key in it")
    keys.sort(key=lambda rk: -rk[0])
    return tuple(keys)


def key_for_role(keys, role):
    """The key that proves `role`: the lowest role's key at or above it."""
    best = None
    for r, k in keys:
        if r >= role and (best is None or r < best[0]):
            best = (r, k)
    return None if best is None else best[1]
