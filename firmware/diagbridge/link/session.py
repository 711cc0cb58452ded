# The gateway side of the host link: the session machine (wire format:
# proto.py).  It owns the states, roles, timers and counters; the handshake
# checks live in handshake.py, the outbound queues, credits and drop
# accounting in outq.py, the held requests in slots.py.
#
#   feed_bytes(now, data, n)      bytes from the host
#   on_timer(now)                 heartbeat due, host silent too long
#   respond(now, req_id, result, data, n) / respond_obj / error
#   post_can_rx / post_bytes / post_progress / post_event     events to the host
#   close(now) / open(now) / hang_up(now)
#   poll() -> EV_*;  pop_bytes(out) -> n;  deadline() -> tick | None
#
# EV_REQUEST hands an authorised request to the application (the gateway
# router): req_id, req_kind and its msgpack body in req_buf[req_start:req_end]
# (body_reader() reads it without allocating, body() decodes it), valid until
# the next poll().  A request the host's role does not allow is refused with
# ERROR(LINK_REFUSED) here and never reaches the application.
#
# Frame MAC (mac.py): a keyed login starts both directions' session keys;
# from then on every frame from the host must carry its tag, and every frame
# to it carries ours.  A frame whose tag fails is LINK_BAD_MAC (counted in
# bad_mac and faults): the session ends at once as if the host had left
# (EV_LINK_LOST, result LINK_BAD_MAC, so the application tears down what the
# host owned), with a last signed BYE {CODE: LINK_BAD_MAC} to the host.  The
# failed frame is then read as the first frame of an unauthenticated link:
# only a HELLO is taken (a host restarting the handshake on the same
# stream), anything else is dropped.  hang_up(now) is the transport's "the
# connection is gone": the session ends as at a BYE.
#
# Sizes (proto.py "Frame size and fragments"): frames both ways are at most
# the smaller of our max_frame and the host's (HELLO); a longer message
# arrives as FRAGMENTs, reassembled in one buffer of cfg.max_message bytes
# (fragments.py; each fragment checked on its own: MAC, order, total), and
# leaves as FRAGMENTs (outq.py).  A frame or a message too long for us is
# LINK_OVERSIZE, answered with ERROR LINK_OVERSIZE to its request id when the
# head can be read (else, or when a MAC could not check that head, to 0);
# fragments out of order, missing or interrupted are LINK_TRUNCATED, the
# request answered ERROR LINK_TRUNCATED; a second long request while one's
# body still waits in the reassembly buffer is ERROR LINK_NO_CREDIT (a host
# has one fragmented request unanswered at most).  A fault leaves nothing
# half-made (no slot, no credit taken).  An answer the
# host could not take (longer than its MAX_MESSAGE) becomes ERROR
# LINK_OVERSIZE; carries(max_pdu) says up front whether every answer of a
# channel fits.
#
#        HELLO (bad version / role not offered: HELLO_ACK + ERROR, stay)
#   WAIT_HELLO ──HELLO──▶ WAIT_AUTH ──AUTH ok──▶ READY ──BYE / host silent──▶ WAIT_HELLO
#        ▲  └──HELLO, role <= open_role ─────────▲ │      (EV_LINK_LOST)
#        └──── AUTH wrong / silent / BYE ──────  │ └─ HELLO: lost + new handshake
#   any state ──close()──▶ CLOSED ──open()──▶ WAIT_HELLO
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.codes import (OK, LINK_MALFORMED, LINK_AUTH_FAILED, LINK_REFUSED, LINK_UNSUPPORTED,
                              LINK_TIMEOUT, LINK_DROPPED, LINK_UNEXPECTED, LINK_BYE, LINK_RESTARTED,
                              LINK_CLOSED, LINK_BAD_MAC, LINK_OVERSIZE, LINK_TRUNCATED)
from diagbridge.errors import UsageError
from diagbridge.evq import EventQueue
from diagbridge.link import proto as P
from diagbridge.link.cobs import Deframer, EV_FRAME, EV_FRAME_BAD
from diagbridge.link.fragments import (Reassembler, request_ref, F_DONE, F_FAULT, F_STRAY,
                                       T_OVERSIZE, T_CUT)
from diagbridge.link.auth import WHO_HOST
from diagbridge.link.handshake import Handshake
from diagbridge.link.mac import FrameMac
from diagbridge.link.msgpack import Reader, T_MAP
from diagbridge.link.outq import OutQueue
from diagbridge.link.slots import RequestSlots

EV_LINK_UP = const(1)       # a host is authenticated: `role`
EV_LINK_LOST = const(2)     # the host left (result: LINK_TIMEOUT, LINK_BYE, LINK_RESTARTED,
                            # LINK_BAD_MAC)
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

_T_AUTH = b"wrong key for the requested role"
_T_LOGIN = b"authenticate first"
_T_KIND = b"unknown message kind"
_T_STATE = b"message not expected now"
_T_MALFORMED = b"malformed message"
_T_ANSWER = b"the answer is longer than the host's max_message"


class LinkSession:
    def __init__(self, cfg, sha256, urandom, trace=None):
        mf = cfg.max_frame
        mm = cfg.max_message
        self._hb_us = cfg.heartbeat_ms * 1000
        self._silent_us = cfg.link_timeout_ms * 1000
        self.trace = trace
        self._mf = mf
        self._mm = mm
        self.max_message = mm               # the longest message, either way
        self._rx = Deframer(mf + P.TAG_LEN)
        self._asm = Reassembler(mm)         # FRAGMENTs put back together (fragments.py)
        self._src = self._rx.payload        # the buffer of the message being handled
        self._rx_mac = FrameMac(sha256)
        self._r = Reader()
        self._hs = Handshake(cfg, sha256, urandom)
        self._q = OutQueue(mf, cfg.request_credits, cfg.event_queue, cfg.event_queue_bytes,
                           FrameMac(sha256), mm)
        self._reqs = RequestSlots(cfg.request_credits, mf, self._asm.view)
        self._events = EventQueue(cfg.request_credits + 8)
        self.req_buf = self._reqs.buf
        self.dropped = self._q.dropped      # events dropped, per kind - MSG_EV_FIRST
        self.faults = 0
        self.refused = 0
        self.auth_failures = 0
        self.bad_mac = 0                    # frames whose session MAC failed (each ended a session)
        self.discarded = 0                  # events posted while no host was up
        self.ctl_dropped = 0
        self.state = S_WAIT_HELLO
        self.result = OK
        self.role = P.ROLE_NONE
        self.req_id = 0
        self.req_kind = 0
        self.req_start = 0
        self.req_end = 0
        self._hb_at = None
        self._silent_at = None
        self._len = 0                       # its length (tag excluded)
        self._kind = 0                      # the message being handled
        self._ref = 0
        self._body = 0

    @property
    def event_credits(self):
        """Events the host will still accept."""
        return self._q.event_credits

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
                if rx.result == LINK_OVERSIZE:
                    self._oversize_frame()
                else:
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

    def hang_up(self, now):
        """The transport lost the host's connection: the session ends as at a
        BYE (EV_LINK_LOST, LINK_BYE)."""
        self._step(now, _I_BYE)

    @property
    def mac_on(self):
        """Frames are signed and checked (a keyed session is up)."""
        return self._rx_mac.on

    @property
    def frame_size(self):
        """The frame size both ways (agreed at HELLO)."""
        return self._q.frame

    @property
    def host_message(self):
        """The longest message the host takes (its MAX_MESSAGE, at most ours)."""
        return self._q.message

    def carries(self, max_pdu):
        """Every answer carrying a PDU of up to max_pdu bytes reaches the host."""
        return P.message_size(max_pdu) <= self._q.message

    # ---- outputs ------------------------------------------------------------
    def poll(self):
        reqs = self._reqs
        reqs.release()                      # the last request's slot
        ev = self._events.pop()
        if ev == EV_REQUEST:
            reqs.take()
            self.req_buf = reqs.src
            self.req_id = reqs.id
            self.req_kind = reqs.kind
            self.req_start = reqs.start
            self.req_end = reqs.end
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
        return self._q.pop_bytes(out, self.state == S_READY)

    def has_output(self):
        return self._q.has_output(self.state == S_READY)

    def deadline(self):
        return earliest(self._silent_at, self._hb_at)

    # ---- answers and events from the application --------------------------
    def respond(self, now, req_id, result, data=None, n=0):
        """RESPONSE {RESULT, DATA: data[0:n]} to request req_id (allocation-free).
        False if req_id is not outstanding (e.g. the host reconnected since)."""
        n = self._q.response(req_id, result, data, n)      # UsageError if too long
        if not self._reqs.finish(req_id):
            return False
        if n > self._q.message:
            return self._send_error(req_id, LINK_OVERSIZE, _T_ANSWER)
        return self._ctl_commit(n)

    def respond_obj(self, now, req_id, body):
        """RESPONSE with any msgpack-able body (allocates); one longer than
        the host takes is ERROR LINK_OVERSIZE to the request instead."""
        if not self._reqs.finish(req_id):
            return False
        try:
            n = self._q.pack_obj(P.MSG_RESPONSE, req_id, body)
        except UsageError:
            n = -1
        if n < 0 or n > self._q.message:
            return self._send_error(req_id, LINK_OVERSIZE, _T_ANSWER)
        return self._ctl_commit(n)

    def error(self, now, req_id, code, text=b""):
        """ERROR {CODE, TEXT} for request req_id: the request failed at link level."""
        if not self._reqs.finish(req_id):
            return False
        return self._send_error(req_id, code, text)

    def post_can_rx(self, now, ts_us, bus, can_id, flags, data, n):
        """EV_CAN_RX (allocation-free).  False if it was dropped (counted)."""
        return self._ev_commit(P.MSG_EV_CAN_RX, self._q.can_rx(ts_us, bus, can_id, flags, data, n))

    def post_bytes(self, now, kind, bus, ts_us, data, n):
        """EV_KLINE_RX / EV_KLINE_MSG style event {BUS, TS_US, DATA} (allocation-free)."""
        return self._ev_commit(kind, self._q.bytes_event(kind, bus, ts_us, data, n))

    def post_progress(self, now, ref, done, total):
        """EV_PROGRESS {REF, DONE, TOTAL} (allocation-free for small ints)."""
        return self._ev_commit(P.MSG_EV_PROGRESS, self._q.progress(ref, done, total))

    def post_event(self, now, kind, body):
        """Any event with a msgpack-able body (allocates)."""
        if not P.is_event(kind) or kind == P.MSG_EV_DROPPED:
            raise UsageError("bad event kind")
        return self._ev_commit(kind, self._q.pack_obj(kind, -1, body))

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
            if self._q.ctl_count() == 0:    # a busy link shows it is alive anyway
                self._ctl_commit(self._q.heartbeat(now))
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
            was_up = self._hs.gw_nonce is not None or self.role != P.ROLE_NONE
            self._reset(True)
            self._events.clear()
            if was_up:
                self._ctl_commit(self._q.bye(LINK_CLOSED))
            self._q.end_mac()               # the BYE is the last signed frame
        elif action == _A_OPEN:
            self._rx.reset()

    def _on_message(self, now):
        rx = self._rx
        length = rx.length
        failed = False
        if self._rx_mac.on:
            m = self._rx_mac.check(rx.payload, length)
            if m < 0:
                self._bad_mac()
                failed = True               # read it unsigned: only a HELLO is taken
            else:
                length = m
        if length > self._q.frame:
            if not failed:
                self._abort_asm()
                self._fault(LINK_OVERSIZE)
                self._refuse_head(rx.payload, length, LINK_OVERSIZE, T_OVERSIZE)
            return
        r = self._r
        r.reset(rx.payload, 0, length)
        r.read_array()
        kind = r.read_int()
        r.read_int()
        if not failed and r.ok and kind == P.MSG_FRAGMENT:
            self._on_fragment(now, rx.payload, r.pos, length)
            return
        self._abort_asm()                   # a message in the middle of fragments
        self._handle(now, rx.payload, length, failed)

    def _handle(self, now, src, length, failed):
        self._src = src
        self._len = length
        r = self._r
        r.reset(src, 0, length)
        n = r.read_array()
        kind = r.read_int()
        ref = r.read_int()
        if failed and (not r.ok or kind != P.MSG_HELLO):
            return
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

    def _body_obj(self):
        """The body of the message being handled, decoded (allocates)."""
        self._r.reset(self._src, self._body, self._len)
        return self._r.read_obj()

    # ---- sizes and fragments -----------------------------------------------------
    def _oversize_frame(self):
        # The deframer gave up on a frame longer than its buffer; the head it
        # kept names the request.  Under a MAC that head cannot be checked:
        # the frame is noise to the MAC (no number used, as a bad CRC) and
        # the ERROR goes to no request.
        self._abort_asm()
        self._fault(LINK_OVERSIZE)
        p = self._rx.payload
        self._refuse_head(p, len(p), LINK_OVERSIZE, T_OVERSIZE, self._rx_mac.on)

    def _refuse_head(self, src, end, code, text, unchecked=False):
        ref = request_ref(self._r, src, 0, end)
        if unchecked or ref < 0:
            ref = 0
        if self.state != S_CLOSED:
            self._send_error(ref, code, text)

    def _on_fragment(self, now, src, body, end):
        if self.state == S_WAIT_AUTH or self.state == S_READY:
            self._silent_at = ticks_add(now, self._silent_us)
        a = self._asm
        ev = a.feed(src, body, end, self._reqs.big_busy)
        if a.cut:                           # the message before it was cut short
            self._report(LINK_TRUNCATED, a.cut_ref, T_CUT)
        if ev == F_DONE:
            self._handle(now, a.view, a.length, False)
        elif ev == F_FAULT:
            self._report(a.result, a.ref, a.text)
        elif ev == F_STRAY:
            self._fault(a.result)

    def _abort_asm(self):
        a = self._asm
        if a.abort():
            self._report(a.result, a.ref, a.text)

    def _report(self, code, ref, text):
        # a fault of a message in fragments: counted, ERROR to its request
        self._fault(code)
        if self.state != S_CLOSED:
            self._send_error(ref if ref >= 0 else 0, code, text)

    def _on_request(self):
        ref = self._ref
        code = self._reqs.add(self.role, self._kind, ref, self._src, self._body,
                              self._len)
        if code == OK:
            self._events.push(EV_REQUEST)
            return
        if code == LINK_REFUSED:
            self.refused += 1
        self._send_error(ref, code, self._reqs.text)

    def _on_credit(self):
        r = self._r
        r.reset(self._src, self._body, self._len)
        if r.head() == T_MAP and r.seek_key(P.K_CREDITS, r.n):
            c = r.read_int()
            if r.ok and c > 0:
                self._q.add_credits(c)
                return
        self._fault(LINK_MALFORMED)

    def _on_hello(self, now):
        hs = self._hs
        if not hs.read_hello(self._body_obj()):     # no version: not worth a HELLO_ACK
            self._fault(LINK_MALFORMED)
            self._send_error(0, LINK_MALFORMED, _T_MALFORMED)
            return
        self._reset()
        q = self._q
        if hs.sizes_apply():                # HELLO_ACK goes in the host's frame size
            q.set_sizes(hs.frame, hs.message)
        self._ctl_commit(hs.pack_ack(q.stage, q.begin(P.MSG_HELLO_ACK, 0)))
        code = hs.verdict()
        if code == LINK_REFUSED:
            self.refused += 1
        elif code != OK:
            self._fault(code)
        if code != OK:
            self._send_error(0, code, hs.text)
            return
        q.add_credits(hs.credits)
        self._silent_at = ticks_add(now, self._silent_us)
        if not hs.needs_key():
            self._grant(now, None)
            return
        self.state = S_WAIT_AUTH
        self._ctl_commit(q.pack_obj(P.MSG_CHALLENGE, 0, hs.challenge()))

    def _on_auth(self, now):
        proof = self._hs.check(self._body_obj())
        if proof is None:
            self.auth_failures += 1
            self._reset()
            self._fault(LINK_AUTH_FAILED)
            self._send_error(0, LINK_AUTH_FAILED, _T_AUTH)
            return
        self._grant(now, proof)

    def _grant(self, now, proof):
        self.state = S_READY
        self.role = self._hs.want
        self.result = OK
        body = {P.K_ROLE: self.role, P.K_CREDITS: self._reqs.credits}
        if proof is not None:
            body[P.K_MAC] = proof
        self._ctl_commit(self._q.pack_obj(P.MSG_AUTH_OK, 0, body))
        if proof is not None:               # a keyed login: every later frame is signed
            tx, rx = self._hs.session_keys()
            self._q.start_mac(tx)           # after AUTH_OK, the last unsigned frame
            self._rx_mac.start(rx, WHO_HOST)
        self._hb_at = ticks_add(now, self._hb_us)
        self._silent_at = ticks_add(now, self._silent_us)
        self._events.push(EV_LINK_UP)

    def _lose(self, why, bye=False):
        self._reset(bye)
        self._events.clear()
        self.result = why
        self._events.push(EV_LINK_LOST)
        if bye:
            self._ctl_commit(self._q.bye(why))
            self._q.end_mac()

    def _bad_mac(self):
        self.bad_mac += 1
        self._lose(LINK_BAD_MAC, True)
        self._fault(LINK_BAD_MAC)

    def _reset(self, keep_mac=False):
        """Forget the host: queues, requests, credits, timers, role, session
        keys (keep_mac: the outbound key signs one last BYE, end_mac())."""
        self.state = S_WAIT_HELLO if self.state != S_CLOSED else S_CLOSED
        self.role = P.ROLE_NONE
        self._hs.gw_nonce = None
        self._hb_at = None
        self._silent_at = None
        self._asm.reset()
        if self._rx_mac.on:
            self._rx_mac.stop()
        self._q.clear(keep_mac)
        self._q.set_sizes(self._mf, self._mm)
        self._reqs.clear()

    def _fault(self, code):
        self.faults += 1
        self.result = code
        if self.trace is not None:
            self.trace(0x100 | code, self.state, 0)
        if len(self._events) < self._reqs.credits + 4:   # keep room for requests
            self._events.push(EV_LINK_FAULT)

    # ---- queueing -----------------------------------------------------------
    def _send_error(self, ref, code, text):
        return self._ctl_commit(self._q.error(ref, code, text))

    def _ctl_commit(self, n):
        if self._q.push_ctl(n):
            return True
        self.ctl_dropped += 1
        self._fault(LINK_DROPPED)
        return False

    def _ev_commit(self, kind, n):
        if self.state != S_READY:
            self.discarded += 1
            return False
        return self._q.push_event(kind, n)
