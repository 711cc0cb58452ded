# Helpers for the host-link tests (no tests here): a scripted host built from
# the core's own msgpack and framing, with the host's half of the frame MAC
# (HostMac, also used by the gateway tests' host), deterministic randomness,
# a session factory.  Portable: pytest and MicroPython.
import hashlib

from diagbridge.clock import TICKS_PERIOD
from diagbridge.link import proto as P
from diagbridge.link.auth import auth_mac, session_key, WHO_HOST, WHO_GATEWAY
from diagbridge.link.cobs import Deframer, encode_frame, frame_size, EV_FRAME
from diagbridge.link.config import LinkConfig
from diagbridge.link.mac import FrameMac
from diagbridge.link.msgpack import packb, Reader
from diagbridge.link.session import LinkSession
from diagbridge.sim.rand import DeterministicRandom

T0 = TICKS_PERIOD - 2000000         # two seconds before the tick wrap
KEY_FULL = b"full-access-key-0123456789abcdef"
KEY_DIAG = b"diagnostic-key-0123456789abcdef!"
KEY_MON = b"monitor-key-0123456789abcdef!!!!"
HOST_NONCE = b"host-nonce-16byt"


def FakeRandom(seed=1):
    """urandom(n) from a counter: deterministic, different every call."""
    return DeterministicRandom(seed)


def frame(obj):
    m = packb(obj)
    return frame_msg(m, len(m))


def frame_msg(m, n):
    """m[0:n] (a message, with its tag if any) as one wire frame."""
    out = bytearray(frame_size(n))
    k = encode_frame(m, n, out)
    return bytes(out[:k])


class Reassembler:
    """The host's side of FRAGMENT (proto.py "Frame size and fragments"):
    take(msg) with every decoded message returns the message to handle
    (msg itself, or the one its fragments make up) or None while fragments
    are still coming.  A fragment out of order, or another message in the
    middle, drops the partial message (counted in faults)."""

    def __init__(self):
        self.buf = None
        self.total = 0
        self.faults = 0
        self.fragments = 0              # FRAGMENT messages taken

    def take(self, msg):
        if msg[0] != P.MSG_FRAGMENT:
            if self.buf is not None:
                self.faults += 1
                self.buf = None
            return msg
        self.fragments += 1
        b = msg[2]
        off = b[P.K_OFFSET]
        if off == 0:
            self.buf = bytearray()
            self.total = b[P.K_TOTAL]
        if self.buf is None or off != len(self.buf) or b[P.K_TOTAL] != self.total:
            self.faults += 1
            self.buf = None
            return None
        self.buf.extend(b[P.K_DATA])
        if len(self.buf) < self.total:
            return None
        m = bytes(self.buf)
        self.buf = None
        return Reader(m, 0, len(m)).read_obj()


class HostMac:
    """The host's half of the frame MAC (proto.py "Frame MAC"): signs what
    it sends after AUTH, checks and strips what arrives after AUTH_OK.
    begin(key, role, gw_nonce) when answering a CHALLENGE; frame(obj) for
    every message sent; unwrap() and seen() for every frame received."""

    def __init__(self, sha256=hashlib.sha256):
        self.sha256 = sha256
        self.tx = FrameMac(sha256)
        self.rx = FrameMac(sha256)
        self.bad = 0                    # frames from the gateway whose tag failed
        self._login = None              # (key, role, gw_nonce) of the AUTH being sent
        self._rx_key = None

    def begin(self, key, role, gw_nonce, host_nonce=HOST_NONCE):
        v = P.LINK_PROTOCOL_VERSION
        self._login = (session_key(self.sha256, key, WHO_HOST, v, role, gw_nonce, host_nonce),
                       session_key(self.sha256, key, WHO_GATEWAY, v, role, gw_nonce,
                                   host_nonce))

    def signed(self, obj):
        """[kind, ref, body] as message bytes with the next tag (when signing)."""
        m = packb(obj)
        if not self.tx.on:
            return bytearray(m)
        buf = bytearray(len(m) + P.TAG_LEN)
        for i in range(len(m)):
            buf[i] = m[i]
        n = self.tx.sign(memoryview(buf), len(m))
        return buf[:n]

    def frame(self, obj):
        if obj[0] == P.MSG_HELLO:
            self.stop()                 # a new handshake: unsigned, as a host's connect()
        m = self.signed(obj)
        f = frame_msg(m, len(m))
        if obj[0] == P.MSG_AUTH and self._login is not None:
            self.tx.start(self._login[0], WHO_HOST)     # every frame after AUTH
            self._rx_key = self._login[1]
            self._login = None
        return f

    def reframe(self, f):
        """A wire frame built by hand (unsigned), signed as the next frame."""
        d = Deframer(len(f))
        i = 0
        while i < len(f):
            i = d.feed_bytes(0, f, len(f), i)
            if d.poll() == EV_FRAME:
                r = Reader(d.payload, 0, d.length)
                if r.read_array() > 0 and r.read_int() == P.MSG_HELLO and r.ok:
                    self.stop()         # a HELLO is never signed (as in frame())
                m = bytearray(d.length + P.TAG_LEN)
                for j in range(d.length):
                    m[j] = d.payload[j]
                n = self.tx.sign(memoryview(m), d.length) if self.tx.on else d.length
                return frame_msg(m, n)
        raise ValueError("no frame")

    def unwrap(self, payload, n):
        """The message length of a received frame payload[0:n]; -1 if its tag
        failed (counted; the session is over: both directions stop)."""
        if not self.rx.on:
            return n
        m = self.rx.check(payload, n)
        if m < 0:
            self.bad += 1
            self.stop()
        return m

    def seen(self, msg):
        """A decoded message from the gateway: AUTH_OK starts the inbound MAC,
        a refused login or a BYE stops the MAC."""
        kind = msg[0]
        if kind == P.MSG_AUTH_OK and self._rx_key is not None:
            self.rx.start(self._rx_key, WHO_GATEWAY)
            self._rx_key = None
        elif kind == P.MSG_ERROR and self._rx_key is not None:
            self.stop()                 # the AUTH was refused: back to unsigned frames
        elif kind == P.MSG_BYE or kind == P.MSG_HELLO_ACK:
            self.stop()

    def stop(self):
        if self.tx.on:
            self.tx.stop()
        if self.rx.on:
            self.rx.stop()
        self._rx_key = None


def make_session(**kw):
    if "keys" not in kw:
        kw["keys"] = ((P.ROLE_FULL, KEY_FULL), (P.ROLE_DIAGNOSTIC, KEY_DIAG),
                      (P.ROLE_MONITOR, KEY_MON))
    return LinkSession(LinkConfig(**kw), hashlib.sha256, FakeRandom())


class Host:
    """A scripted host around a LinkSession: send() messages, recv() what the
    gateway sent back as [kind, ref, body] lists."""

    def __init__(self, s, now=T0):
        self.s = s
        self.now = now
        self.d = Deframer(4096 + P.TAG_LEN)     # the sessions here send at most 4 KiB
        self.out = bytearray(4096)
        self.wire = bytearray()         # everything the gateway sent
        self.mac = HostMac()
        self.asm = Reassembler()        # FRAGMENTs from the gateway put back together
        self.sent = []                  # every frame sent, as wire bytes

    def send(self, kind, ref, body):
        self.feed(self.mac.frame([kind, ref, body]))

    def feed(self, f):
        self.sent.append(f)
        self.s.feed_bytes(self.now, f, len(f))

    def recv(self, limit=100000):
        got = []
        while limit > 0:
            n = self.s.pop_bytes(self.out)
            if n == 0:
                break
            limit -= n
            self.wire.extend(self.out[:n])
            i = 0
            while i < n:
                i = self.d.feed_bytes(self.now, self.out, n, i)
                if self.d.poll() == EV_FRAME:
                    m = self.mac.unwrap(self.d.payload, self.d.length)
                    if m < 0:
                        got.append("BAD_MAC")
                        continue
                    msg = Reader(self.d.payload, 0, m).read_obj()
                    self.mac.seen(msg)
                    msg = self.asm.take(msg)
                    if msg is not None:
                        got.append(msg)
        return got

    def events(self):
        evs = []
        while True:
            ev = self.s.poll()
            if ev == 0:
                return evs
            evs.append(ev)

    def hello(self, role=P.ROLE_FULL, credits=10, version=P.LINK_PROTOCOL_VERSION, extra=None):
        body = {P.K_VERSION: version, P.K_ROLE: role, P.K_NONCE: HOST_NONCE,
                P.K_CREDITS: credits}
        if extra:
            for k in extra:
                body[k] = extra[k]
        self.send(P.MSG_HELLO, 0, body)
        return self.recv()

    def fragments(self, kind, ref, body, frame_size):
        """[kind, ref, body] as the FRAGMENT messages a host sends when it
        is longer than frame_size (proto.py "Frame size and fragments")."""
        m = packb([kind, ref, body])
        out = []
        off = 0
        while off < len(m):
            empty = packb([P.MSG_FRAGMENT, 0, {P.K_OFFSET: off, P.K_TOTAL: len(m),
                                               P.K_DATA: b""}])
            c = min(frame_size - len(empty) - 1, len(m) - off)
            out.append([P.MSG_FRAGMENT, 0, {P.K_OFFSET: off, P.K_TOTAL: len(m),
                                            P.K_DATA: bytes(m[off:off + c])}])
            off += c
        return out

    def send_fragmented(self, kind, ref, body, frame_size):
        for f in self.fragments(kind, ref, body, frame_size):
            self.send(f[0], f[1], f[2])

    def auth(self, key, role, gw_nonce, who=WHO_HOST):
        """The AUTH proof for this key (the frame MAC's keys follow from it)."""
        if who == WHO_HOST:
            self.mac.begin(key, role, gw_nonce)
        return auth_mac(hashlib.sha256, key, who, P.LINK_PROTOCOL_VERSION, role, gw_nonce,
                        HOST_NONCE)

    def login(self, key=KEY_FULL, role=P.ROLE_FULL, credits=10, extra=None):
        msgs = self.hello(role, credits, extra=extra)
        nonce = msgs[1][2][P.K_NONCE]
        self.send(P.MSG_AUTH, 0, {P.K_MAC: self.auth(key, role, nonce)})
        return msgs + self.recv()
