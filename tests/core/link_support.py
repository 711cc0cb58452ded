# Helpers for the host-link tests (no tests here): a scripted host built from
# the core's own msgpack and framing, deterministic randomness, a session
# factory.  Portable: pytest and MicroPython.
import hashlib

from diagbridge.clock import TICKS_PERIOD
from diagbridge.link import proto as P
from diagbridge.link.auth import auth_mac, WHO_HOST, WHO_GATEWAY
from diagbridge.link.cobs import Deframer, encode_frame, frame_size, EV_FRAME
from diagbridge.link.config import LinkConfig
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
    out = bytearray(frame_size(len(m)))
    n = encode_frame(m, len(m), out)
    return bytes(out[:n])


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
        self.d = Deframer(65535)
        self.out = bytearray(4096)
        self.wire = bytearray()         # everything the gateway sent

    def send(self, kind, ref, body):
        f = frame([kind, ref, body])
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
                    r = Reader(self.d.payload, 0, self.d.length)
                    got.append(r.read_obj())
        return got

    def events(self):
        evs = []
        while True:
            ev = self.s.poll()
            if ev == 0:
                return evs
            evs.append(ev)

    def hello(self, role=P.ROLE_FULL, credits=10, version=P.LINK_PROTOCOL_VERSION):
        self.send(P.MSG_HELLO, 0, {P.K_VERSION: version, P.K_ROLE: role,
                                   P.K_NONCE: HOST_NONCE, P.K_CREDITS: credits})
        return self.recv()

    def mac(self, key, role, gw_nonce, who=WHO_HOST):
        return auth_mac(hashlib.sha256, key, who, P.LINK_PROTOCOL_VERSION, role, gw_nonce,
                        HOST_NONCE)

    def login(self, key=KEY_FULL, role=P.ROLE_FULL, credits=10):
        msgs = self.hello(role, credits)
        nonce = msgs[1][2][P.K_NONCE]
        self.send(P.MSG_AUTH, 0, {P.K_MAC: self.mac(key, role, nonce)})
        return msgs + self.recv()
