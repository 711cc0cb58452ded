# The host link's frame MAC (wire format: proto.py "Frame MAC").
#
# After a keyed login (HELLO, CHALLENGE, AUTH, AUTH_OK) every frame in both
# directions carries a tag under a session key, so nobody who can write to
# the stream (a TCP man-in-the-middle, a second process on a shared serial
# line) can inject, replay, reorder or drop a frame unnoticed:
#
#   key_H, key_G = session_key(login key, "H"/"G", version, role,
#                              gw_nonce, host_nonce)      (auth.py, HMAC-SHA256)
#   tag = HMAC-SHA256(key_sender, sender || seq(8, big-endian) || message)[:16]
#   frame = 00 | COBS(message | tag | CRC-16) | 00
#
# Choices:
# - Direction-separated keys (and the sender's letter in the MAC input): a
#   frame the gateway sent can never be reflected back to it as the host's.
# - Fresh keys per session: both nonces go into the derivation and the
#   gateway's nonce never repeats, so a frame from an earlier session fails.
# - Implicit 64-bit sequence numbers: each side counts the frames it sent
#   and received under the key, from 0, and never sends the count.  The
#   link is an ordered byte stream (TCP, a UART), so the receiver always
#   knows which number the next frame must carry: replaying, reordering,
#   dropping or injecting a frame makes every later check fail, at no cost
#   in bytes.  (An explicit number would only be needed on a transport that
#   may reorder or lose datagrams; the link has none.)  64 bits never wrap.
# - 16-byte tags (HMAC-SHA256 truncated to 128 bits, as RFC 4868 does for
#   IPsec): a forgery succeeds with probability 2**-128 per try and the
#   first failure ends the session, so an attacker gets one try per login.
#   8 bytes would still give 2**-64 per login; 16 is the conservative
#   default and costs 16 bytes a frame (an EV_CAN_RX is about 40).
# - A bad tag is LINK_BAD_MAC and ends the session: after one bad frame the
#   counters cannot be trusted to agree, so no later frame could be judged.
#   Line noise *between* frames (a bad CRC, a truncated frame) is only
#   counted, as before: the counters move on good frames only; if a real
#   frame was lost, the next one fails its check and ends the session.
#
# Cost: two SHA-256 passes per frame (the inner over 64 + 9 + n bytes, the
# outer over 64 + 32).  Where the hash object has copy() (CPython's
# hashlib) the keyed pads are hashed once per session and each frame starts
# from copies.  MicroPython's hashlib.sha256 has no copy(), so each frame
# makes its two hash objects, hashes the pads again, and digest() returns
# new bytes: about 480 bytes of heap per frame on the 64-bit unix port
# (measured by tests/core/test_link_mac.py), garbage the next collection
# takes.  That is the one allocation of a steady link: everything else in the
# session stays allocation-free (tests/core/test_link_noalloc.py).
#
#   m = FrameMac(sha256)           buffers once; start(key, who) at login
#   n = m.sign(buf, n)             buf[n:n+TAG_LEN] = tag(buf[0:n]); returns n + TAG_LEN
#   n = m.check(buf, n)            the tag is buf[n-TAG_LEN:n]: returns n - TAG_LEN, or -1
#   m.stop()                       the session ended (the key is forgotten)
from diagbridge._compat import const
from diagbridge.errors import UsageError
from diagbridge.link.proto import TAG_LEN

_BLOCK = const(64)
_SEQ = const(8)


class FrameMac:
    """One direction's frame MAC: the key's pads, the implicit sequence
    number and the tag buffer, allocated once."""

    def __init__(self, sha256):
        self._sha256 = sha256
        self._kin = bytearray(_BLOCK)       # key ^ ipad
        self._kout = bytearray(_BLOCK)      # key ^ opad
        self._hdr = bytearray(1 + _SEQ)     # sender, seq (big-endian)
        self._inner = None                  # hashed pads (hash objects with copy())
        self._outer = None
        self.on = False

    def start(self, key, who):
        """Sign/check from now on with a 32-byte session key; frames sent by
        `who`; the sequence number starts at 0.  Allocates (once a login)."""
        if len(key) > _BLOCK:
            raise UsageError("session key longer than a block")
        kin = self._kin
        kout = self._kout
        for i in range(_BLOCK):
            k = key[i] if i < len(key) else 0
            kin[i] = k ^ 0x36
            kout[i] = k ^ 0x5C
        hdr = self._hdr
        hdr[0] = who[0]
        for i in range(1, 1 + _SEQ):
            hdr[i] = 0
        h = self._sha256()
        if hasattr(h, "copy"):
            h.update(kin)
            o = self._sha256()
            o.update(kout)
            self._inner = h
            self._outer = o
        else:
            self._inner = None
            self._outer = None
        self.on = True

    def stop(self):
        """Forget the key: nothing is signed or checked until start()."""
        kin = self._kin
        kout = self._kout
        for i in range(_BLOCK):
            kin[i] = 0
            kout[i] = 0
        self._inner = None
        self._outer = None
        self.on = False

    def seq(self):
        """The sequence number the next frame uses (for tests; allocates)."""
        v = 0
        for i in range(1, 1 + _SEQ):
            v = (v << 8) | self._hdr[i]
        return v

    def sign(self, buf, n):
        """Append the tag of buf[0:n] at buf[n:]; returns n + TAG_LEN.  buf is a
        memoryview (or any object whose slice hashes buf[0:n])."""
        if not self.on:
            raise UsageError("frame MAC not started")
        d = self._digest(buf, n)
        for i in range(TAG_LEN):
            buf[n + i] = d[i]
        self._advance()
        return n + TAG_LEN

    def check(self, buf, n):
        """Verify the tag at buf[n-TAG_LEN:n] (constant time); returns the
        message length n - TAG_LEN, or -1 (the sequence number does not
        move on a bad tag: the session is over anyway)."""
        if not self.on:
            raise UsageError("frame MAC not started")
        m = n - TAG_LEN
        if m < 0:
            return -1
        d = self._digest(buf, m)
        acc = 0
        for i in range(TAG_LEN):
            acc |= d[i] ^ buf[m + i]
        if acc:
            return -1
        self._advance()
        return m

    def _digest(self, buf, n):
        if self._inner is not None:
            h = self._inner.copy()
        else:
            h = self._sha256()
            h.update(self._kin)
        h.update(self._hdr)
        h.update(buf[0:n])
        d = h.digest()
        if self._outer is not None:
            h = self._outer.copy()
        else:
            h = self._sha256()
            h.update(self._kout)
        h.update(d)
        return h.digest()

    def _advance(self):
        hdr = self._hdr
        i = _SEQ
        while i > 0:
            v = (hdr[i] + 1) & 0xFF
            hdr[i] = v
            if v:
                return
            i -= 1
