# The gateway side of the host link: handshake, authentication, roles,
# credits, heartbeats and bounded queues (wire format: proto.py).
#
#   feed_bytes(now, data, n)      bytes from the host
#   on_timer(now)                 heartbeat due, host silent too long
#   respond(now, req_id, result, data, n) / respond_obj / error
#   post_can_rx / post_bytes / post_progress / post_event     events to the host
#   close(now) / open(now)
#   poll() -> EV_*;  pop_bytes(out) -> n;  deadline() -> tick | None
#
# EV_REQUEST hands an authorised request to the application (the gateway
# router): req_id, req_kind and its msgpack body in req_buf[req_start:req_end]
# (body_reader() reads it without allocating, body() decodes it), valid until
# the next poll().  A request the host's role does not allow is refused with
# ERROR(LINK_REFUSED) here and never reaches the application.
#
#        HELLO (bad version / role not offered: HELLO_ACK + ERROR, stay)
#   WAIT_HELLO ──HELLO──▶ WAIT_AUTH ──AUTH ok──▶ READY ──BYE / host silent──▶ WAIT_HELLO
#        ▲  └──HELLO, role <= open_role ─────────▲ │      (EV_LINK_LOST)
#        └──── AUTH wrong / silent / BYE ──────  │ └─ HELLO: lost + new handshake
#   any state ──close()──▶ CLOSED ──open()──▶ WAIT_HELLO
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.codes import (OK, LINK_MALFORMED, LINK_VERSION, LINK_AUTH_FAILED, LINK_REFUSED,
                              LINK_NO_CREDIT, LINK_UNSUPPORTED, LINK_TIMEOUT, LINK_DROPPED,
                              LINK_UNEXPECTED, LINK_BYE, LINK_RESTARTED, LINK_CLOSED)
from diagbridge.errors import UsageError
from diagbridge.evq import EventQueue
from diagbridge.link import proto as P
from diagbridge.link.auth import NonceSource, auth_mac, ct_equal, WHO_HOST, WHO_GATEWAY
from diagbridge.link.cobs import Deframer, encode_frame, frame_size, EV_FRAME, EV_FRAME_BAD
from diagbridge.link.msgpack import (Reader, T_MAP, pack_int, pack_uint16, pack_bin, pack_str,
                                     pack_map_header, pack_obj, pack_bool)
from diagbridge.link.ring import MsgRing

EV_LINK_UP = const(1)       # a host is authenticated: `role`
EV_LINK_LOST = const(2)     # the host left (result: LINK_TIMEOUT, LINK_BYE, LINK_RESTARTED)
EV_REQUEST = const(3)       # req_id, req_kind, body: answer with respond()/error()
EV_LINK_FAULT = const(4)    # a bad frame or message (result: LINK_*); counted in faults

S_WAIT_HELLO = const(0)
S_WAIT_AUTH = const(1)
S_READY = const(2)
S_CLOSED = const(3)
# Inputs
_I_HELLO = const(0)
_I_AUTH = const(1)
_I_REQUEST = const(2)
_I_HEARTBEAT = const(3)
_I_CREDIT = const(4)
_I_BYE = const(5)
_I_OTHER = const(6)         # a kind the host may not send (unknown, gateway-only)
_I_SILENT = const(7)        # link_timeout_ms without a frame from the host
_I_BEAT = const(8)          # our heartbeat is due
_I_CLOSE = const(9)
_I_OPEN = const(10)
N_INPUTS = const(11)
# Actions
_A_NONE = const(0)
_A_HELLO = const(1)         # answer HELLO_ACK; then challenge, grant or refuse
_A_AUTH = const(2)          # check the MAC: grant, or refuse and forget the nonce
_A_REQUEST = const(3)       # role, credit and id checks; EV_REQUEST
_A_CREDIT = const(4)
_A_LOST = const(5)          # EV_LINK_LOST, reset
_A_RESTART = const(6)       # EV_LINK_LOST (LINK_RESTARTED), then _A_HELLO
_A_REFUSE = const(7)        # ERROR(LINK_REFUSED): not authenticated
_A_UNEXPECTED = const(8)    # ERROR(LINK_UNEXPECTED)
_A_UNSUPPORTED = const(9)   # ERROR(LINK_UNSUPPORTED)
_A_BEAT = const(10)
_A_CLOSE = const(11)
_A_OPEN = const(12)
_A_ABANDON = const(13)      # a handshake that did not finish: reset quietly

_WH = S_WAIT_HELLO
_WA = S_WAIT_AUTH
_RD = S_READY
_CL = S_CLOSED
# _NEXT[state][input] = (next state, action) or None (ignored).  _A_HELLO and
# _A_AUTH choose the state themselves when the handshake moves on.
_NEXT = (
    # HELLO             AUTH                REQUEST            HEARTBEAT      CREDIT
    # BYE               OTHER               SILENT             BEAT           CLOSE  OPEN
    ((_WH, _A_HELLO), (_WH, _A_UNEXPECTED), (_WH, _A_REFUSE), None, None,
     None, (_WH, _A_UNSUPPORTED), None, None, (_CL, _A_CLOSE), None),
    ((_WH, _A_HELLO), (_WH, _A_AUTH), (_WA, _A_REFUSE), (_WA, _A_NONE), (_WA, _A_CREDIT),
     (_WH, _A_ABANDON), (_WA, _A_UNSUPPORTED), (_WH, _A_ABANDON), None, (_CL, _A_CLOSE), None),
    ((_WH, _A_RESTART), (_RD, _A_UNEXPECTED), (_RD, _A_REQUEST), (_RD, _A_NONE),
     (_RD, _A_CREDIT), (_WH, _A_LOST), (_RD, _A_UNSUPPORTED), (_WH, _A_LOST), (_RD, _A_BEAT),
     (_CL, _A_CLOSE), None),
    (None, None, None, None, None, None, None, None, None, None, (_WH, _A_OPEN)),
)

_MAX_CREDITS = const(0xFFFFFF)
_EV_OVERHEAD = const(48)        # header and keys of an event, bin data excluded
_T_VERSION = b"link protocol version mismatch"
_T_AUTH = b"wrong key for the requested role"
_T_ROLE = b"role not offered by this gateway"
_T_LOGIN = b"authenticate first"
_T_PRIV = b"role too low for this request"
_T_CREDIT = b"no request credit left"
_T_ID = b"request id already in use"
_T_KIND = b"unknown message kind"
_T_STATE = b"message not expected now"
_T_MALFORMED = b"malformed message"


class LinkSession:
    def __init__(self, cfg, sha256, urandom, trace=None):
        mf = cfg.max_frame
        m = cfg.request_credits
        self._cfg = cfg
        self._sha256 = sha256
        self._nonces = NonceSource(urandom)
        self._hb_us = cfg.heartbeat_ms * 1000
        self._silent_us = cfg.link_timeout_ms * 1000
        self.trace = trace
        self._rx = Deframer(mf)
        self._r = Reader()
        self._stage = bytearray(mf)         # the message being built
        self._msg = bytearray(mf)           # the message being framed
        self._txf = bytearray(frame_size(mf))
        self._tx_len = 0
        self._tx_pos = 0
        self._ctl = MsgRing((m + 2) * (mf + 2), 4 * m + 16)
        self._evq = MsgRing(cfg.event_queue_bytes, cfg.event_queue)
        self._slots = bytearray(m * mf)     # requests waiting for poll()
        self.req_buf = memoryview(self._slots)
        self._slot_len = [0] * m
        self._slot_id = [0] * m
        self._slot_kind = [0] * m
        self._slot_r = 0
        self._slot_n = 0
        self._taken = False
        self._out_ids = [-1] * m            # requests awaiting respond()
        self._events = EventQueue(m + 8)
        self.dropped = [0] * P.N_EV_KINDS   # events dropped, per kind - MSG_EV_FIRST
        self._unrep = [0] * P.N_EV_KINDS    # ... not yet reported to the host
        self._unrep_total = 0
        self._before_gap = 0                # queued events older than the drops
        self.faults = 0
        self.refused = 0
        self.auth_failures = 0
        self.discarded = 0                  # events posted while no host was up
        self.ctl_dropped = 0
        self.state = S_WAIT_HELLO
        self.result = OK
        self.role = P.ROLE_NONE
        self.event_credits = 0
        self.req_id = 0
        self.req_kind = 0
        self.req_start = 0
        self.req_end = 0
        self._seq = 0
        self._hb_at = None
        self._silent_at = None
        self._gw_nonce = None
        self._host_nonce = None
        self._want = P.ROLE_NONE
        self._kind = 0                      # the message being handled
        self._ref = 0
        self._body = 0

    # ---- inputs -------------------------------------------------------------
    def feed_bytes(self, now, data, n):
        rx = self._rx
        i = 0
        while i < n:
            i = rx.feed_bytes(now, data, n, i)
            ev = rx.poll()
            if ev == EV_FRAME:
                self._on_message(now)
            elif ev == EV_FRAME_BAD:
                self._fault(rx.result)

    def on_timer(self, now):
        if due(now, self._silent_at):
            self._step(now, _I_SILENT)
        if due(now, self._hb_at):
            self._step(now, _I_BEAT)

    def close(self, now):
        self._step(now, _I_CLOSE)

    def open(self, now):
        self._step(now, _I_OPEN)

    # ---- outputs ------------------------------------------------------------
    def poll(self):
        if self._taken:                     # release the last request's slot
            self._taken = False
            self._slot_r += 1
            if self._slot_r == len(self._slot_len):
                self._slot_r = 0
            self._slot_n -= 1
        ev = self._events.pop()
        if ev == EV_REQUEST:
            i = self._slot_r
            self.req_id = self._slot_id[i]
            self.req_kind = self._slot_kind[i]
            self.req_start = i * self._cfg.max_frame
            self.req_end = self.req_start + self._slot_len[i]
            self._taken = True
        return ev

    def body_reader(self):
        """The request body under a Reader (no allocation)."""
        self._r.reset(self.req_buf, self.req_start, self.req_end)
        return self._r

    def body(self):
        """The request body as Python objects (allocates); None if malformed."""
        return self.body_reader().read_obj()

    def pop_bytes(self, out):
        """Bytes for the host into out; returns how many (0: nothing to send)."""
        cap = len(out)
        w = 0
        txf = self._txf
        while w < cap:
            p = self._tx_pos
            if p == self._tx_len:
                if not self._next_frame():
                    break
                p = 0
            k = self._tx_len - p
            if k > cap - w:
                k = cap - w
            for j in range(k):
                out[w + j] = txf[p + j]
            w += k
            self._tx_pos = p + k
        return w

    def has_output(self):
        return (self._tx_pos < self._tx_len or self._ctl.count > 0
                or (self.state == S_READY and self.event_credits > 0
                    and (self._evq.count > 0 or self._unrep_total > 0)))

    def deadline(self):
        return earliest(self._silent_at, self._hb_at)

    # ---- answers and events from the application --------------------------
    def respond(self, now, req_id, result, data=None, n=0):
        """RESPONSE {RESULT, DATA: data[0:n]} to request req_id (allocation-free).
        False if req_id is not outstanding (e.g. the host reconnected since)."""
        if n + _EV_OVERHEAD > len(self._stage):
            raise UsageError("response larger than max_frame")
        if not self._finish(req_id):
            return False
        s = self._stage
        i = self._begin(s, P.MSG_RESPONSE, req_id)
        i = pack_map_header(s, i, 1 if data is None else 2)
        s[i] = P.K_RESULT
        i = pack_int(s, i + 1, result)
        if data is not None:
            s[i] = P.K_DATA
            i = pack_bin(s, i + 1, data, n)
        return self._ctl_commit(i)

    def respond_obj(self, now, req_id, body):
        """RESPONSE with any msgpack-able body (allocates)."""
        if not self._finish(req_id):
            return False
        return self._ctl_commit(self._pack_obj(P.MSG_RESPONSE, req_id, body))

    def error(self, now, req_id, code, text=b""):
        """ERROR {CODE, TEXT} for request req_id: the request failed at link level."""
        if not self._finish(req_id):
            return False
        return self._send_error(req_id, code, text)

    def post_can_rx(self, now, ts_us, bus, can_id, flags, data, n):
        """EV_CAN_RX (allocation-free).  False if it was dropped (counted)."""
        if n > 64:
            raise UsageError("CAN data longer than 64 bytes")
        s = self._stage
        i = self._begin(s, P.MSG_EV_CAN_RX, -1)
        s[i] = 0x85
        s[i + 1] = P.K_BUS
        i = pack_int(s, i + 2, bus)
        s[i] = P.K_TS_US
        i = pack_int(s, i + 1, ts_us)
        s[i] = P.K_ID
        i = pack_int(s, i + 1, can_id)
        s[i] = P.K_FLAGS
        i = pack_int(s, i + 1, flags)
        s[i] = P.K_DATA
        i = pack_bin(s, i + 1, data, n)
        return self._ev_commit(P.MSG_EV_CAN_RX, i)

    def post_bytes(self, now, kind, bus, ts_us, data, n):
        """EV_KLINE_RX / EV_KLINE_MSG style event {BUS, TS_US, DATA} (allocation-free)."""
        if not P.is_event(kind) or n + _EV_OVERHEAD > len(self._stage):
            raise UsageError("bad event kind or too long")
        s = self._stage
        i = self._begin(s, kind, -1)
        s[i] = 0x83
        s[i + 1] = P.K_BUS
        i = pack_int(s, i + 2, bus)
        s[i] = P.K_TS_US
        i = pack_int(s, i + 1, ts_us)
        s[i] = P.K_DATA
        i = pack_bin(s, i + 1, data, n)
        return self._ev_commit(kind, i)

    def post_progress(self, now, ref, done, total):
        """EV_PROGRESS {REF, DONE, TOTAL} (allocation-free for small ints)."""
        s = self._stage
        i = self._begin(s, P.MSG_EV_PROGRESS, -1)
        s[i] = 0x83
        s[i + 1] = P.K_REF
        i = pack_int(s, i + 2, ref)
        s[i] = P.K_DONE
        i = pack_int(s, i + 1, done)
        s[i] = P.K_TOTAL
        i = pack_int(s, i + 1, total)
        return self._ev_commit(P.MSG_EV_PROGRESS, i)

    def post_event(self, now, kind, body):
        """Any event with a msgpack-able body (allocates)."""
        if not P.is_event(kind) or kind == P.MSG_EV_DROPPED:
            raise UsageError("bad event kind")
        return self._ev_commit(kind, self._pack_obj(kind, -1, body))

    # ---- the machine --------------------------------------------------------
    def _step(self, now, inp):
        cell = _NEXT[self.state][inp]
        if cell is None:
            return
        self.state, action = cell
        if self.trace is not None:
            self.trace(inp, self.state, action)
        if action == _A_REQUEST:
            self._on_request()
        elif action == _A_CREDIT:
            self._on_credit()
        elif action == _A_BEAT:
            self._hb_at = ticks_add(now, self._hb_us)
            if self._ctl.count == 0:        # a busy link shows it is alive anyway
                s = self._stage
                i = self._begin(s, P.MSG_HEARTBEAT, 0)
                s[i] = 0x81
                s[i + 1] = P.K_TS_US
                self._ctl_commit(pack_int(s, i + 2, now))
        elif action == _A_HELLO:
            self._on_hello(now)
        elif action == _A_AUTH:
            self._on_auth(now)
        elif action == _A_LOST or action == _A_RESTART:
            self._lose(LINK_BYE if inp == _I_BYE else
                       LINK_TIMEOUT if inp == _I_SILENT else LINK_RESTARTED)
            if action == _A_RESTART:
                self._on_hello(now)
        elif action == _A_REFUSE:
            self.refused += 1
            self._send_error(self._ref, LINK_REFUSED, _T_LOGIN)
        elif action == _A_UNEXPECTED:
            self._send_error(self._ref, LINK_UNEXPECTED, _T_STATE)
        elif action == _A_UNSUPPORTED:
            self._send_error(self._ref, LINK_UNSUPPORTED, _T_KIND)
        elif action == _A_ABANDON:
            self._reset()
        elif action == _A_CLOSE:
            was_up = self._gw_nonce is not None or self.role != P.ROLE_NONE
            self._reset()
            self._events.clear()
            if was_up:
                s = self._stage
                i = self._begin(s, P.MSG_BYE, 0)
                s[i] = 0x81
                s[i + 1] = P.K_CODE
                self._ctl_commit(pack_int(s, i + 2, LINK_CLOSED))
        elif action == _A_OPEN:
            self._rx.reset()

    def _on_message(self, now):
        r = self._r
        r.reset(self._rx.payload, 0, self._rx.length)
        n = r.read_array()
        kind = r.read_int()
        ref = r.read_int()
        if not r.ok or n < 3 or ref < 0:
            self._fault(LINK_MALFORMED)
            if self.state != S_CLOSED:
                self._send_error(0, LINK_MALFORMED, _T_MALFORMED)
            return
        self._kind = kind
        self._ref = ref
        self._body = r.pos
        if self.state == S_WAIT_AUTH or self.state == S_READY:
            self._silent_at = ticks_add(now, self._silent_us)
        if kind == P.MSG_HELLO:
            inp = _I_HELLO
        elif kind == P.MSG_AUTH:
            inp = _I_AUTH
        elif kind == P.MSG_HEARTBEAT:
            inp = _I_HEARTBEAT
        elif kind == P.MSG_CREDIT:
            inp = _I_CREDIT
        elif kind == P.MSG_BYE:
            inp = _I_BYE
        elif P.is_request(kind):
            inp = _I_REQUEST
        else:
            inp = _I_OTHER
        self._step(now, inp)

    def _body_map(self):
        """Reader at the body of the message being handled; its pair count or -1."""
        r = self._r
        r.reset(self._rx.payload, self._body, self._rx.length)
        if r.head() != T_MAP:
            return -1
        return r.n

    def _on_request(self):
        kind = self._kind
        ref = self._ref
        if not P.is_known_request(kind):
            self._send_error(ref, LINK_UNSUPPORTED, _T_KIND)
            return
        sid = -1
        sub = -1
        if kind == P.MSG_REQ_UDS or kind == P.MSG_REQ_KWP:
            r = self._r
            if r.seek_key(P.K_DATA, self._body_map()) and r.read_bin() > 0:
                sid = r.buf[r.start]
                if r.n > 1:
                    sub = r.buf[r.start + 1]
        if self.role < P.required_role(kind, sid, sub):
            self.refused += 1
            self._send_error(ref, LINK_REFUSED, _T_PRIV)
            return
        ids = self._out_ids
        free = -1
        for j in range(len(ids)):
            if ids[j] == ref:
                self._send_error(ref, LINK_UNEXPECTED, _T_ID)
                return
            if ids[j] < 0:
                free = j
        if free < 0:
            self._send_error(ref, LINK_NO_CREDIT, _T_CREDIT)
            return
        ids[free] = ref
        m = len(self._slot_len)
        i = self._slot_r + self._slot_n
        if i >= m:
            i -= m
        base = i * self._cfg.max_frame
        src = self._rx.payload
        b = self._body
        n = self._rx.length - b
        dst = self._slots
        for k in range(n):
            dst[base + k] = src[b + k]
        self._slot_len[i] = n
        self._slot_id[i] = ref
        self._slot_kind[i] = kind
        self._slot_n += 1
        self._events.push(EV_REQUEST)

    def _on_credit(self):
        r = self._r
        if r.seek_key(P.K_CREDITS, self._body_map()):
            c = r.read_int()
            if r.ok and c > 0:
                self.event_credits += c
                if self.event_credits > _MAX_CREDITS:
                    self.event_credits = _MAX_CREDITS
                return
        self._fault(LINK_MALFORMED)

    def _on_hello(self, now):
        self._r.reset(self._rx.payload, self._body, self._rx.length)
        body = self._r.read_obj()
        ver = body.get(P.K_VERSION) if isinstance(body, dict) else None
        if not isinstance(ver, int):
            self._fault(LINK_MALFORMED)
            self._send_error(0, LINK_MALFORMED, _T_MALFORMED)
            return
        role = body.get(P.K_ROLE, P.ROLE_FULL)
        nonce = body.get(P.K_NONCE)
        credits = body.get(P.K_CREDITS, 0)
        self._reset()
        offered = self._offered(role) if isinstance(role, int) else False
        self._send_hello_ack(ver == P.LINK_PROTOCOL_VERSION and offered
                             and role > self._cfg.open_role)
        if ver != P.LINK_PROTOCOL_VERSION:
            self._fault(LINK_VERSION)
            self._send_error(0, LINK_VERSION, _T_VERSION)
            return
        if (not isinstance(nonce, bytes) or len(nonce) != P.NONCE_LEN
                or not isinstance(credits, int) or credits < 0):
            self._fault(LINK_MALFORMED)
            self._send_error(0, LINK_MALFORMED, _T_MALFORMED)
            return
        if not offered:
            self.refused += 1
            self._send_error(0, LINK_REFUSED, _T_ROLE)
            return
        self._host_nonce = nonce
        self._want = role
        self.event_credits = credits if credits < _MAX_CREDITS else _MAX_CREDITS
        self._silent_at = ticks_add(now, self._silent_us)
        if role <= self._cfg.open_role:
            self._grant(now, None)
            return
        self._gw_nonce = self._nonces.next()
        self.state = S_WAIT_AUTH
        self._ctl_commit(self._pack_obj(P.MSG_CHALLENGE, 0,
                                        {P.K_NONCE: self._gw_nonce, P.K_ROLE: role}))

    def _offered(self, role):
        if not P.ROLE_MONITOR <= role <= P.ROLE_FULL:
            return False
        if role <= self._cfg.open_role:
            return True
        for k in self._cfg.keys:
            if k[0] >= role:
                return True
        return False

    def _on_auth(self, now):
        self._r.reset(self._rx.payload, self._body, self._rx.length)
        body = self._r.read_obj()
        mac = body.get(P.K_MAC) if isinstance(body, dict) else None
        gw_nonce = self._gw_nonce
        self._gw_nonce = None               # one answer per challenge
        key = None
        if isinstance(mac, bytes):
            for k in self._cfg.keys:        # every candidate key is tried: no early exit
                if k[0] >= self._want:
                    exp = auth_mac(self._sha256, k[1], WHO_HOST, P.LINK_PROTOCOL_VERSION,
                                   self._want, gw_nonce, self._host_nonce)
                    if ct_equal(exp, mac) and key is None:
                        key = k[1]
        if key is None:
            self.auth_failures += 1
            self._reset()
            self._fault(LINK_AUTH_FAILED)
            self._send_error(0, LINK_AUTH_FAILED, _T_AUTH)
            return
        self._grant(now, auth_mac(self._sha256, key, WHO_GATEWAY, P.LINK_PROTOCOL_VERSION,
                                  self._want, gw_nonce, self._host_nonce))

    def _grant(self, now, proof):
        self.state = S_READY
        self.role = self._want
        self.result = OK
        body = {P.K_ROLE: self.role, P.K_CREDITS: len(self._out_ids)}
        if proof is not None:
            body[P.K_MAC] = proof
        self._ctl_commit(self._pack_obj(P.MSG_AUTH_OK, 0, body))
        self._hb_at = ticks_add(now, self._hb_us)
        self._silent_at = ticks_add(now, self._silent_us)
        self._events.push(EV_LINK_UP)

    def _send_hello_ack(self, auth):
        c = self._cfg
        s = self._stage
        i = self._begin(s, P.MSG_HELLO_ACK, 0)
        i = pack_map_header(s, i, 8)
        s[i] = P.K_VERSION
        i = pack_int(s, i + 1, P.LINK_PROTOCOL_VERSION)
        s[i] = P.K_NAME
        i = pack_str(s, i + 1, c.name, len(c.name))
        s[i] = P.K_BUSES
        i = pack_obj(s, i + 1, c.buses)
        roles = [r for r in (P.ROLE_MONITOR, P.ROLE_DIAGNOSTIC, P.ROLE_FULL) if self._offered(r)]
        s[i] = P.K_ROLES
        i = pack_obj(s, i + 1, roles)
        s[i] = P.K_MAX_FRAME
        i = pack_int(s, i + 1, c.max_frame)
        s[i] = P.K_HEARTBEAT_MS
        i = pack_int(s, i + 1, c.heartbeat_ms)
        s[i] = P.K_TIMEOUT_MS
        i = pack_int(s, i + 1, c.link_timeout_ms)
        s[i] = P.K_AUTH
        self._ctl_commit(pack_bool(s, i + 1, auth))

    def _lose(self, why):
        self._reset()
        self._events.clear()
        self._taken = False
        self.result = why
        self._events.push(EV_LINK_LOST)

    def _reset(self):
        """Forget the host: queues, requests, credits, timers, role."""
        self.state = S_WAIT_HELLO if self.state != S_CLOSED else S_CLOSED
        self.role = P.ROLE_NONE
        self.event_credits = 0
        self._gw_nonce = None
        self._hb_at = None
        self._silent_at = None
        self._ctl.clear()
        self._evq.clear()
        for j in range(len(self._out_ids)):
            self._out_ids[j] = -1
        for j in range(P.N_EV_KINDS):
            self._unrep[j] = 0
        self._unrep_total = 0
        self._before_gap = 0
        self._slot_n = 0
        self._slot_r = 0
        self._taken = False
        self._seq = 0

    def _fault(self, code):
        self.faults += 1
        self.result = code
        if self.trace is not None:
            self.trace(0x100 | code, self.state, 0)
        if len(self._events) < len(self._out_ids) + 4:   # keep room for requests
            self._events.push(EV_LINK_FAULT)

    def _finish(self, req_id):
        ids = self._out_ids
        for j in range(len(ids)):
            if ids[j] == req_id and req_id >= 0:
                ids[j] = -1
                return True
        return False

    # ---- building and queueing messages ------------------------------------
    def _begin(self, s, kind, ref):
        # [kind, ref, ...]: events (ref < 0) get a uint16 seq patched when sent
        s[0] = 0x93
        s[1] = kind
        if ref < 0:
            return pack_uint16(s, 2, 0)
        return pack_int(s, 2, ref)

    def _pack_obj(self, kind, ref, body):
        s = self._stage
        try:
            return pack_obj(s, self._begin(s, kind, ref), body)
        except IndexError:
            raise UsageError("message larger than max_frame")

    def _send_error(self, ref, code, text):
        s = self._stage
        i = self._begin(s, P.MSG_ERROR, ref)
        s[i] = 0x82
        s[i + 1] = P.K_CODE
        i = pack_int(s, i + 2, code)
        s[i] = P.K_TEXT
        return self._ctl_commit(pack_str(s, i + 1, text, len(text)))

    def _ctl_commit(self, n):
        if self._ctl.fits(n):
            self._ctl.push(self._stage, n)
            return True
        self.ctl_dropped += 1
        self._fault(LINK_DROPPED)
        return False

    def _ev_commit(self, kind, n):
        if self.state != S_READY:
            self.discarded += 1
            return False
        if self._evq.fits(n):
            self._evq.push(self._stage, n)
            return True
        k = kind - P.MSG_EV_FIRST
        if self._unrep_total == 0:
            self._before_gap = self._evq.count
        self._unrep[k] += 1
        self._unrep_total += 1
        self.dropped[k] += 1
        return False

    def _next_frame(self):
        msg = self._msg
        n = self._ctl.pop_into(msg)
        if n < 0:
            if self.state != S_READY or self.event_credits <= 0:
                return False
            if self._unrep_total and self._before_gap == 0:
                n = self._dropped_report(msg)
            else:
                n = self._evq.pop_into(msg)
                if n < 0:
                    return False
                if self._unrep_total:
                    self._before_gap -= 1
            msg[3] = self._seq >> 8
            msg[4] = self._seq & 0xFF
            self._seq = (self._seq + 1) & 0xFFFF
            self.event_credits -= 1
        self._tx_len = encode_frame(msg, n, self._txf, 0)
        self._tx_pos = 0
        return True

    def _dropped_report(self, s):
        i = self._begin(s, P.MSG_EV_DROPPED, -1)
        s[i] = 0x81
        s[i + 1] = P.K_COUNTS
        i += 2
        kinds = 0
        for k in range(P.N_EV_KINDS):
            if self._unrep[k]:
                kinds += 1
        i = pack_map_header(s, i, kinds)
        for k in range(P.N_EV_KINDS):
            c = self._unrep[k]
            if c:
                i = pack_int(s, i, P.MSG_EV_FIRST + k)
                i = pack_int(s, i, c)
                self._unrep[k] = 0
        self._unrep_total = 0
        return i
