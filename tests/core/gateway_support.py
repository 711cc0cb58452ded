# Helpers for the gateway tests (no tests here): a portable host side that
# speaks the link protocol with the core's own msgpack and framing, driving
# the simulated vehicle in virtual time.  Portable: pytest and MicroPython.
import hashlib

from diagbridge.link import proto as P
from diagbridge.link.auth import auth_mac, WHO_HOST
from diagbridge.link.cobs import Deframer, EV_FRAME
from diagbridge.link.msgpack import Reader
from diagbridge.sim.vehicle import Vehicle
from link_support import HostMac, KEY_FULL, KEY_DIAG, KEY_MON, HOST_NONCE, Reassembler

KEYS = ((P.ROLE_FULL, KEY_FULL), (P.ROLE_DIAGNOSTIC, KEY_DIAG), (P.ROLE_MONITOR, KEY_MON))
ROLE_KEYS = {P.ROLE_FULL: KEY_FULL, P.ROLE_DIAGNOSTIC: KEY_DIAG, P.ROLE_MONITOR: KEY_MON}

ENGINE = {P.K_BUS: 0, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E0,
          P.K_RX_ID: 0x7E8, P.K_FUNC_TX_ID: 0x7DF}
GEARBOX = {P.K_BUS: 0, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E1,
           P.K_RX_ID: 0x7E9, P.K_FUNC_TX_ID: 0x7DF}


def merge(a, b):
    """A new map with a's and b's entries (int keys: no dict(a, **b))."""
    d = {}
    for k in a:
        d[k] = a[k]
    for k in b:
        d[k] = b[k]
    return d


def vehicle(**kw):
    if "keys" not in kw:
        kw["keys"] = KEYS
    return Vehicle(hashlib.sha256, **kw)


class VHost:
    """A host on the vehicle's link.  auto_credit: return each event's credit
    as soon as it is read (else credit() by hand).  Sends a HEARTBEAT every
    500 ms of virtual time while it waits.  pipe: its connection (default
    v.link, host slot 0; v.open_link() for another host at the same time)."""

    def __init__(self, v, auto_credit=True, pipe=None):
        self.v = v
        self.pipe = v.link if pipe is None else pipe
        self.d = Deframer(65535)
        self.inbox = []             # [kind, ref, body] not consumed yet
        self.events = []            # every event received, in order
        self.auto_credit = auto_credit
        self._rid = 0
        self._beat = v.k.elapsed_us
        self.mac = HostMac()        # the frame MAC after a keyed login
        self.asm = Reassembler()    # FRAGMENTs put back together

    def send(self, kind, ref, body):
        self.pipe.feed(self.mac.frame([kind, ref, body]))

    def pump(self):
        data = self.pipe.read()
        i = 0
        n = len(data)
        got = 0
        while i < n:
            i = self.d.feed_bytes(self.v.k.now, data, n, i)
            if self.d.poll() == EV_FRAME:
                m = self.mac.unwrap(self.d.payload, self.d.length)
                if m < 0:
                    continue                # a bad tag (counted in mac.bad)
                msg = Reader(self.d.payload, 0, m).read_obj()
                self.mac.seen(msg)
                msg = self.asm.take(msg)
                if msg is None:
                    continue
                if P.is_event(msg[0]):
                    self.events.append(msg)
                    got += 1
                else:
                    self.inbox.append(msg)
        if got and self.auto_credit:
            self.send(P.MSG_CREDIT, 0, {P.K_CREDITS: got})
        if self.v.k.elapsed_us - self._beat >= 500000:
            self._beat = self.v.k.elapsed_us
            self.send(P.MSG_HEARTBEAT, 0, None)

    def close(self):
        """The connection ends without a BYE (a cut cable, a killed process)."""
        self.pipe.close()

    def credit(self, n):
        self.send(P.MSG_CREDIT, 0, {P.K_CREDITS: n})

    def run(self, us):
        """Let us of virtual time pass, pumping the link every 10 ms."""
        end = self.v.k.elapsed_us + us
        while self.v.k.elapsed_us < end:
            self.v.run_for(min(10000, end - self.v.k.elapsed_us))
            self.pump()

    def take(self, pred, max_us=10000000):
        """The first inbox message with pred(msg), running the vehicle until
        it arrives (None after max_us)."""
        end = self.v.k.elapsed_us + max_us
        while True:
            self.pump()
            for m in self.inbox:
                if pred(m):
                    self.inbox.remove(m)
                    return m
            if self.v.k.elapsed_us >= end:
                return None
            self.v.run_until(lambda: self.pipe.available() > 0,
                             min(100000, end - self.v.k.elapsed_us))

    def login(self, role=P.ROLE_FULL, credits=64):
        self.send(P.MSG_HELLO, 0, {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_ROLE: role,
                                   P.K_NONCE: HOST_NONCE, P.K_CREDITS: credits})
        ch = self.take(lambda m: m[0] in (P.MSG_CHALLENGE, P.MSG_AUTH_OK, P.MSG_ERROR))
        if ch[0] == P.MSG_CHALLENGE:
            self.mac.begin(ROLE_KEYS[role], role, ch[2][P.K_NONCE])
            mac = auth_mac(hashlib.sha256, ROLE_KEYS[role], WHO_HOST, P.LINK_PROTOCOL_VERSION,
                           role, ch[2][P.K_NONCE], HOST_NONCE)
            self.send(P.MSG_AUTH, 0, {P.K_MAC: mac})
            ch = self.take(lambda m: m[0] in (P.MSG_AUTH_OK, P.MSG_ERROR))
        self.inbox = [m for m in self.inbox if m[0] != P.MSG_HELLO_ACK]
        return ch

    def request(self, kind, body, max_us=10000000):
        """Send a request; returns its RESPONSE or ERROR [kind, ref, body]."""
        self._rid += 1
        rid = self._rid
        self.send(kind, rid, body)
        return self.take(lambda m: m[1] == rid and m[0] in (P.MSG_RESPONSE, P.MSG_ERROR),
                         max_us)

    def start(self, kind, body):
        """Send a request without waiting; returns its id."""
        self._rid += 1
        self.send(kind, self._rid, body)
        return self._rid

    def wait(self, rid, max_us=10000000):
        return self.take(lambda m: m[1] == rid and m[0] in (P.MSG_RESPONSE, P.MSG_ERROR),
                         max_us)

    def ok(self, kind, body, max_us=10000000):
        m = self.request(kind, body, max_us)
        assert m is not None and m[0] == P.MSG_RESPONSE, m
        return m[2]

    def open(self, cid, ep, **extra):
        body = {P.K_CHANNEL: cid, P.K_ON: True}
        for k in ep:
            body[k] = ep[k]
        for k in extra:
            body[int(k[1:])] = extra[k]
        return self.ok(P.MSG_REQ_CHANNEL, body)

    def uds(self, cid, data, functional=False, max_us=10000000):
        return self.ok(P.MSG_REQ_UDS, {P.K_CHANNEL: cid, P.K_DATA: data,
                                       P.K_FUNCTIONAL: functional}, max_us)


def logged_in(role=P.ROLE_FULL, credits=64, auto_credit=True, **kw):
    v = vehicle(**kw)
    h = VHost(v, auto_credit)
    m = h.login(role, credits)
    assert m[0] == P.MSG_AUTH_OK, m
    return v, h


def another_host(v, role=P.ROLE_FULL, credits=64, auto_credit=True):
    """A second (third ...) host logged in on its own connection."""
    h = VHost(v, auto_credit, v.open_link())
    m = h.login(role, credits)
    assert m[0] == P.MSG_AUTH_OK, m
    return h


class PipeLink:
    """The host link as two preallocated byte rings (a UART's contract)."""

    def __init__(self, size=65536):
        self.inb = bytearray(size)
        self.in_n = 0
        self.out = bytearray(size)
        self.out_n = 0

    def readinto(self, buf):
        n = self.in_n if self.in_n < len(buf) else len(buf)
        for i in range(n):
            buf[i] = self.inb[i]
        for i in range(n, self.in_n):
            self.inb[i - n] = self.inb[i]
        self.in_n -= n
        return n

    def write(self, buf, n):
        for i in range(n):
            self.out[self.out_n + i] = buf[i]
        self.out_n += n
