# UdsClient: the tester side of ISO 14229-1 (and the client timing of
# ISO 14229-2), sans-I/O.  One request at a time on one physical link.
#
#   c = UdsClient(cfg=None, trace=None)
#   c.request(now, data, n, functional=False)  send data[0:n] (copied)
#   c.request_built(now, n, functional=False)  send c.tx[0:n], built in place
#   n = c.pop_pdu(out)          next outbound PDU (request or keep-alive); 0 = none
#                               c.tx_functional tells its target address type
#   c.sent(now, result=OK)      the transport finished sending the popped PDU
#   c.rx_started(now)           a segmented response began (FF): P2 stops
#   c.rx_failed(now, result)    the transport lost a response (N_TIMEOUT_CR ...)
#   c.feed_pdu(now, data, n)    one whole response PDU
#   c.on_timer(now) · c.deadline() · ev = c.poll()
#   c.cancel()                  forget the outstanding request (no event)
#
# Timing (§ 6.3 of ISO 14229-2): P2_client runs from the confirmation of the
# request (sent) to the start of the response (a single frame or a first
# frame); each 7F SID 78 restarts the wait with P2*_client, without sending
# the request again.  A positive DiagnosticSessionControl response carries
# the server's P2/P2* (§10.2.5): with cfg.adopt_timing they become
# P2_client = P2_server + p2_margin_ms, P2*_client = P2*_server + p2star_margin_ms.
# A chain of more than cfg.max_pending 0x78 answers ends the request with
# A_PENDING_LIMIT (0 = no limit).
#
# A request whose sub-function has the suppressPosRspMsgIndicationBit (or a
# functional request: it is for many servers, use uds/client/functional.py to
# collect answers) expects no response: it completes when it is sent.
#
# Responses are matched to the request: the response SID (request SID +
# 0x40) and the echoed parameters (sub-function, DID, RID, block counter).
# A response with the right SID that is too short to carry them ends the
# request with A_MALFORMED_RESPONSE; anything else that matches nothing (a
# late answer, another SID, the answer to another request, an NRC for
# another SID) is reported as EV_UNEXPECTED and the wait goes on.  Nothing
# a server sends raises.
#
# S3 keep-alive (uds/client/keepalive.py): while the server is in a non-default session
# (learnt from the DSC and ECUReset responses, or set with keep_alive()),
# the client sends TesterPresent whenever it has been quiet for
# cfg.keepalive_period_ms; never while a request is outstanding (the
# server's S3 does not run then).
#
# Events (details are attributes, valid until the next poll()):
#   EV_SEND        a PDU is ready: pop_pdu()
#   EV_DONE        the request finished: result (OK, A_NEGATIVE_RESPONSE with
#                  nrc, A_TIMEOUT_P2, A_PENDING_LIMIT, A_MALFORMED_RESPONSE or
#                  the transport's N_* code); for OK: payload[0:length]
#                  (length 0 when no response was expected)
#   EV_PENDING     a 0x78 arrived; `pending` counts them for this request
#   EV_UNEXPECTED  a PDU matching nothing: stray[0:stray_len] (its first
#                  cfg.stray_max bytes), stray_total its full length
#   EV_KEEPALIVE_FAILED  a 3E 00 keep-alive got no or a wrong answer: ka_result
from diagbridge._compat import const, copy_into
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.codes import (EV_NONE, OK, A_TIMEOUT_P2, A_NEGATIVE_RESPONSE,
                              A_PENDING_LIMIT, A_MALFORMED_RESPONSE)
from diagbridge.errors import UsageError
from diagbridge.evq import EventQueue
from diagbridge.uds.client.keepalive import (KeepAlive, KeepAliveConfig, REQ_START, REQ_STOP, REQ_TOUCH,
                                  EV_SEND as _KA_SEND, EV_FAILED as _KA_FAILED)
from diagbridge.errors import config_int as _int

EV_SEND = const(1)
EV_DONE = const(2)
EV_PENDING = const(3)
EV_UNEXPECTED = const(4)
EV_KEEPALIVE_FAILED = const(5)

# trace(code, a, b)
T_INPUT = const(1)          # input, new state
T_UNEXPECTED = const(2)     # first byte, length

_NRC_RCRRP = const(0x78)
_SID_NR = const(0x7F)
_SID_DSC = const(0x10)
_SID_ER = const(0x11)
_SID_TP = const(0x3E)
_DEFAULT_SESSION = const(0x01)
_KA_WAIT_RSP = const(2)     # KeepAlive's state while its 3E 00 awaits 7E 00

# States
S_IDLE = const(0)           # nothing outstanding
S_QUEUED = const(1)         # request ready for pop_pdu()
S_SENDING = const(2)        # popped, waiting for the transport's confirmation
S_WAIT = const(3)           # P2 (or P2* after 0x78) runs
S_RECEIVING = const(4)      # a segmented response is coming in (no P2)
N_STATES = const(5)
# Inputs
I_REQUEST = const(0)
I_POPPED = const(1)
I_SENT = const(2)           # confirmation, response expected
I_SENT_NORSP = const(3)     # confirmation, no response expected
I_SEND_FAIL = const(4)
I_RSP = const(5)            # a matching final response (positive or NRC, or malformed)
I_PENDING = const(6)        # a matching 7F SID 78
I_PENDING_LIMIT = const(7)  # the 0x78 over the limit
I_OTHER = const(8)          # a PDU that matches nothing
I_TIMEOUT = const(9)
I_RX_START = const(10)
I_RX_FAIL = const(11)
N_INPUTS = const(12)
# Actions
_A_NONE = const(0)
_A_QUEUE = const(1)         # copy done by the caller: announce EV_SEND
_A_AWAIT = const(2)         # start P2
_A_FINISH = const(3)        # EV_DONE with the result set by the caller
_A_PENDING = const(4)       # P2* from now, EV_PENDING
_A_STRAY = const(5)         # EV_UNEXPECTED
_A_HOLD = const(6)          # stop P2 while the response streams in
_A_USAGE = const(7)         # the caller's mistake: UsageError
_A_STRAY_AWAIT = const(8)   # EV_UNEXPECTED, then P2 again

_U = (S_IDLE, _A_USAGE)
_S = None                   # ignored
_NEXT = (
    # S_IDLE: responses here are late or unsolicited; a stray confirmation is ignored
    ((S_QUEUED, _A_QUEUE), _U, _S, _S, _S, (S_IDLE, _A_STRAY), (S_IDLE, _A_STRAY),
     (S_IDLE, _A_STRAY), (S_IDLE, _A_STRAY), _S, _S, _S),
    # S_QUEUED
    (_U, (S_SENDING, _A_NONE), _U, _U, _U, (S_QUEUED, _A_STRAY), (S_QUEUED, _A_STRAY),
     (S_QUEUED, _A_STRAY), (S_QUEUED, _A_STRAY), _S, _S, _S),
    # S_SENDING: a response before the confirmation means it was sent
    (_U, _U, (S_WAIT, _A_AWAIT), (S_IDLE, _A_FINISH), (S_IDLE, _A_FINISH),
     (S_IDLE, _A_FINISH), (S_WAIT, _A_PENDING), (S_IDLE, _A_FINISH), (S_SENDING, _A_STRAY),
     _S, (S_RECEIVING, _A_HOLD), _S),
    # S_WAIT
    (_U, _U, _S, _S, _S, (S_IDLE, _A_FINISH), (S_WAIT, _A_PENDING), (S_IDLE, _A_FINISH),
     (S_WAIT, _A_STRAY), (S_IDLE, _A_FINISH), (S_RECEIVING, _A_HOLD), _S),
    # S_RECEIVING: the transport reports the end of the segmented response
    # (a segmented PDU that matched nothing: back to waiting, P2 from now)
    (_U, _U, _S, _S, _S, (S_IDLE, _A_FINISH), (S_WAIT, _A_PENDING), (S_IDLE, _A_FINISH),
     (S_WAIT, _A_STRAY_AWAIT), _S, _S, (S_IDLE, _A_FINISH)),
)

# Request bytes after the SID that a positive response echoes (0 = none), by
# SID; bit 7 = the first of them is a sub-function (masked with 0x7F, and
# its bit 7 is the suppressPosRspMsgIndicationBit).
_ECHO = bytearray(256)
_SF = const(0x80)
for _sid, _e in ((0x10, 0x81), (0x11, 0x81), (0x19, 0x81), (0x22, 2), (0x24, 2),
                 (0x27, 0x81), (0x28, 0x81), (0x29, 0x81), (0x2C, 0x81), (0x2E, 2),
                 (0x2F, 2), (0x31, 0x83), (0x36, 1), (0x38, 1), (0x3E, 0x81),
                 (0x83, 0x81), (0x85, 0x81), (0x86, 0x81), (0x87, 0x81)):
    _ECHO[_sid] = _e


def has_sub_function(sid):
    return (_ECHO[sid & 0xFF] & _SF) != 0


# match() verdicts
M_OTHER = const(0)          # not an answer to this request
M_POSITIVE = const(1)
M_NEGATIVE = const(2)       # 7F SID nrc (nrc = data[2], not 0x78)
M_PENDING = const(3)        # 7F SID 78
M_MALFORMED = const(4)      # the response SID, too short for the echoed parameters


def match(req, req_n, data, n):
    """How the response data[0:n] relates to the request req[0:req_n]."""
    sid = req[0]
    d0 = data[0]
    if d0 == _SID_NR:
        if n != 3 or data[1] != sid:
            return M_OTHER
        return M_PENDING if data[2] == _NRC_RCRRP else M_NEGATIVE
    if d0 != ((sid + 0x40) & 0xFF):
        return M_OTHER
    e = _ECHO[sid]
    k = e & 0x7F
    if n < 1 + k:
        return M_MALFORMED
    for i in range(1, 1 + k):
        a = data[i]
        b = req[i] if i < req_n else 0
        if i == 1 and e & _SF:
            a &= 0x7F
            b &= 0x7F
        if a != b:
            return M_OTHER
    return M_POSITIVE


def suppressed(data, n):
    """True when data[0:n] asks the server to suppress its positive response."""
    return n >= 2 and has_sub_function(data[0]) and (data[1] & 0x80) != 0


class UdsClientConfig:
    """
      p2_client_ms        request sent -> response start (default: P2_server
                          50 ms + the margin)
      p2star_client_ms    0x78 received -> next response (P2*_server 5000 ms +
                          the margin)
      p2_margin_ms        added to the server's P2 of a DSC response
      p2star_margin_ms    added to the server's P2* of a DSC response
      adopt_timing        take P2/P2* from positive DSC responses
      max_pending         0x78 answers tolerated per request (0 = no limit)
      max_pdu             largest request / response
      keepalive           send TesterPresent in non-default sessions
      keepalive_period_ms quiet time before a TesterPresent (S3_server 5000)
      keepalive_suppress  3E 80 (no answer) rather than 3E 00
      keepalive_functional  send it to the functional address
      stray_max           bytes of an unexpected PDU kept for inspection
    """

    def __init__(self, p2_client_ms=150, p2star_client_ms=5100, p2_margin_ms=100,
                 p2star_margin_ms=100, adopt_timing=True, max_pending=0, max_pdu=4095,
                 keepalive=True, keepalive_period_ms=2000, keepalive_suppress=True,
                 keepalive_functional=False, stray_max=8, events=8):
        self.p2_client_ms = _int("p2_client_ms", p2_client_ms, 1, 200000)
        self.p2star_client_ms = _int("p2star_client_ms", p2star_client_ms, 1, 200000)
        self.p2_margin_ms = _int("p2_margin_ms", p2_margin_ms, 0, 100000)
        self.p2star_margin_ms = _int("p2star_margin_ms", p2star_margin_ms, 0, 100000)
        self.adopt_timing = bool(adopt_timing)
        self.max_pending = _int("max_pending", max_pending, 0, 0xFFFF)
        self.max_pdu = _int("max_pdu", max_pdu, 8, 0x3FFFFFFE)
        self.keepalive = bool(keepalive)
        self.keepalive_period_ms = _int("keepalive_period_ms", keepalive_period_ms, 1, 60000)
        self.keepalive_suppress = bool(keepalive_suppress)
        self.keepalive_functional = bool(keepalive_functional)
        self.stray_max = _int("stray_max", stray_max, 1, 4095)
        self.events = _int("events", events, 4, 255)


class UdsClient:
    def __init__(self, cfg=None, trace=None):
        if cfg is None:
            cfg = UdsClientConfig()
        self.cfg = cfg
        self.trace = trace
        self.tx = bytearray(cfg.max_pdu)
        self._rx = bytearray(cfg.max_pdu)
        self.payload = memoryview(self._rx)
        self.stray = bytearray(cfg.stray_max)
        self._events = EventQueue(cfg.events)
        self.ka = KeepAlive(KeepAliveConfig(cfg.keepalive_period_ms, cfg.keepalive_suppress,
                                            cfg.p2_client_ms))
        self._ka_buf = bytearray(2)
        self._ka_ready = False
        self.state = S_IDLE
        self.session = _DEFAULT_SESSION
        self.p2_us = cfg.p2_client_ms * 1000
        self.p2star_us = cfg.p2star_client_ms * 1000
        self._at = None             # P2 / P2* expiry
        self._n = 0                 # request length
        self._sid = 0
        self._functional = False
        self._expect = True
        self._popped_ka = False     # the PDU in the transport is a keep-alive
        self.tx_functional = False
        # event details
        self.result = OK
        self.nrc = 0
        self.length = 0
        self.pending = 0
        self.stray_len = 0
        self.stray_total = 0
        self.ka_result = OK
        # counters
        self.unexpected = 0
        self.requests = 0
        self._once_p2 = 0               # this request's own P2 / P2* (us), 0: the session's
        self._once_p2star = 0

    # ---- application ---------------------------------------------------------------
    def request(self, now, data, n, functional=False, timeout_ms=0):
        """Send data[0:n]: the bytes are copied; EV_SEND follows.
        timeout_ms (0: the session's timing): this request alone waits that
        long for its answer (P2) and at least that long after each 0x78 (P2*),
        e.g. a routine known to run for seconds."""
        if n < 1 or n > len(self.tx) or n > len(data):
            raise UsageError("n")
        copy_into(self.tx, 0, data, 0, n)
        self.request_built(now, n, functional, timeout_ms)

    def request_built(self, now, n, functional=False, timeout_ms=0):
        """Send self.tx[0:n], written there by a codec (no copy)."""
        if self.state != S_IDLE:
            raise UsageError("a request is outstanding")
        if n < 1 or n > len(self.tx):
            raise UsageError("n")
        if not isinstance(timeout_ms, int) or not 0 <= timeout_ms <= 600000:
            raise UsageError("timeout_ms")
        self._once_p2 = timeout_ms * 1000
        self._once_p2star = max(self.p2star_us, self._once_p2) if timeout_ms else 0
        tx = self.tx
        self._n = n
        self._sid = tx[0]
        self._functional = bool(functional)
        self._expect = not functional and not suppressed(tx, n)
        self.pending = 0
        self.requests += 1
        self._step(now, I_REQUEST)
        self._ka_input(now, REQ_TOUCH)

    def keep_alive(self, now, on):
        """Start or stop the TesterPresent keep-alive explicitly."""
        self._ka_input(now, REQ_START if on else REQ_STOP)

    def busy(self):
        return self.state != S_IDLE

    def cancel(self):
        """Forget the outstanding request (its runner gave up): no event; a
        late confirmation is ignored and a late answer is reported as stray."""
        self.state = S_IDLE
        self._at = None
        self._once_p2 = self._once_p2star = 0

    # ---- transport inputs ---------------------------------------------------------------
    def sent(self, now, result=OK):
        """The transport finished (result OK) or failed sending the popped PDU."""
        if self._popped_ka:
            self._popped_ka = False
            return
        if result != OK:
            self._set(result, 0, 0)
            self._step(now, I_SEND_FAIL)
        elif self._expect:
            self._step(now, I_SENT)
        else:
            self._set(OK, 0, 0)
            self._step(now, I_SENT_NORSP)

    def rx_started(self, now):
        self._step(now, I_RX_START)

    def rx_failed(self, now, result):
        if self.state == S_RECEIVING:
            self._set(result, 0, 0)
            self._step(now, I_RX_FAIL)

    def feed_pdu(self, now, data, n):
        """One whole response PDU data[0:n]."""
        if n < 1:
            return
        ka = self.ka
        if n <= 3 and ka.state == _KA_WAIT_RSP and (data[0] == 0x7E or (data[0] == _SID_NR and n > 1
                                                            and data[1] == _SID_TP)):
            ka.feed_pdu(now, data, n)       # the answer to our 3E 00
            self._drain_ka(now)
            return
        inp = self._classify(data, n)
        if inp == I_RSP and self.nrc == 0 and self.result == OK:
            rx = self._rx
            for i in range(n):
                rx[i] = data[i]
            self.length = n
            self._learn(now, data, n)
        elif inp == I_OTHER:
            self._keep_stray(data, n)
        self._step(now, inp)

    def on_timer(self, now):
        if due(now, self._at):
            self._at = None
            self._set(A_TIMEOUT_P2, 0, 0)
            self._step(now, I_TIMEOUT)
        if self.ka.deadline() is not None:
            self.ka.on_timer(now)
            self._drain_ka(now)

    # ---- outputs -------------------------------------------------------------------------
    def poll(self):
        return self._events.pop()

    def pop_pdu(self, out):
        """The next PDU to send into out: the request first, then a keep-alive."""
        if self.state == S_QUEUED:
            n = self._n
            if len(out) < n:
                raise UsageError("buffer too small")
            copy_into(out, 0, self.tx, 0, n)
            self.tx_functional = self._functional
            self._popped_ka = False
            self._step(0, I_POPPED)
            return n
        if self._ka_ready and self.state == S_IDLE:
            self._ka_ready = False
            n = self.ka.pop_pdu(out)
            self.tx_functional = self.cfg.keepalive_functional
            self._popped_ka = True
            return n
        return 0

    def deadline(self):
        # a keep-alive falling due during a request is dropped (_drain_ka)
        return earliest(self._at, self.ka.deadline())

    # ---- internals ------------------------------------------------------------------------
    def _set(self, result, nrc, length):
        self.result = result
        self.nrc = nrc
        self.length = length

    def _classify(self, data, n):
        """The input a response PDU is for the outstanding request."""
        if self.state < S_SENDING or not self._expect:
            return I_OTHER
        m = match(self.tx, self._n, data, n)
        if m == M_POSITIVE:
            self._set(OK, 0, 0)
            return I_RSP
        if m == M_NEGATIVE:
            self._set(A_NEGATIVE_RESPONSE, data[2], 0)
            return I_RSP
        if m == M_PENDING:
            lim = self.cfg.max_pending
            if lim and self.pending >= lim:
                self.pending += 1
                self._set(A_PENDING_LIMIT, _NRC_RCRRP, 0)
                return I_PENDING_LIMIT
            return I_PENDING
        if m == M_MALFORMED:
            self._set(A_MALFORMED_RESPONSE, 0, 0)
            return I_RSP
        return I_OTHER

    def _learn(self, now, data, n):
        """Session and timing from DSC / ECUReset responses."""
        sid = data[0] - 0x40
        if sid == _SID_DSC and n == 6:
            self.session = data[1]
            if self.cfg.adopt_timing:
                self.p2_us = (((data[2] << 8) | data[3]) + self.cfg.p2_margin_ms) * 1000
                self.p2star_us = (((data[4] << 8) | data[5]) * 10
                                  + self.cfg.p2star_margin_ms) * 1000
            if self.cfg.keepalive:
                self._ka_input(now, REQ_STOP if data[1] == _DEFAULT_SESSION else REQ_START)
        elif sid == _SID_ER:
            self.session = _DEFAULT_SESSION
            self.p2_us = self.cfg.p2_client_ms * 1000
            self.p2star_us = self.cfg.p2star_client_ms * 1000
            self._ka_input(now, REQ_STOP)

    def _keep_stray(self, data, n):
        s = self.stray
        k = n if n < len(s) else len(s)
        for i in range(k):
            s[i] = data[i]
        self.stray_len = k
        self.stray_total = n
        self.unexpected += 1
        if self.trace is not None:
            self.trace(T_UNEXPECTED, data[0], n)

    def _ka_input(self, now, req):
        self.ka.request(now, req)
        self._drain_ka(now)

    def _drain_ka(self, now):
        ev = self.ka.poll()
        while ev != EV_NONE:
            if ev == _KA_SEND:
                if self.state == S_IDLE:
                    self._ka_ready = True
                    self._events.push(EV_SEND)
                else:
                    self.ka.pop_pdu(self._ka_buf)   # the request keeps the server awake
            elif ev == _KA_FAILED:
                self.ka_result = self.ka.result
                self._events.push(EV_KEEPALIVE_FAILED)
            ev = self.ka.poll()

    def _step(self, now, inp):
        cell = _NEXT[self.state][inp]
        if cell is None:
            return
        nxt, action = cell
        if action == _A_USAGE:
            raise UsageError("request in the wrong state")
        self.state = nxt
        if self.trace is not None:
            self.trace(T_INPUT, inp, nxt)
        if action == _A_QUEUE:
            self._events.push(EV_SEND)
        elif action == _A_AWAIT:
            self._at = ticks_add(now, self._once_p2 or self.p2_us)
        elif action == _A_FINISH:
            self._at = None
            self._once_p2 = self._once_p2star = 0
            self._events.push(EV_DONE)
            self._ka_input(now, REQ_TOUCH)
        elif action == _A_PENDING:
            self.pending += 1
            self._at = ticks_add(now, self._once_p2star or self.p2star_us)
            self._events.push(EV_PENDING)
        elif action == _A_STRAY:
            self._events.push(EV_UNEXPECTED)
        elif action == _A_STRAY_AWAIT:
            self._events.push(EV_UNEXPECTED)
            self._at = ticks_add(now, self._once_p2 or self.p2_us)
        elif action == _A_HOLD:
            self._at = None
