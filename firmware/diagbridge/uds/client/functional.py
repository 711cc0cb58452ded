# FunctionalQuery: one functionally addressed request, every answer collected
# per responding ECU (ISO 14229-1 §8.7.5 / ISO 14229-2 functional timing),
# sans-I/O.  The gateway sends the request once to the functional address
# (a single frame) and listens on the physical response channel of every
# ECU it knows (a cantp.Mux: channel i = ECU i).
#
#   q = FunctionalQuery(n_ecus, cfg=None)
#   q.request(now, data, n)        EV_SEND follows; pop_pdu(out) -> the request
#   q.sent(now, result=OK)         the functional SF went out: the window opens
#   q.rx_started(now, i)           ECU i began a segmented answer (FF)
#   q.rx_failed(now, i, result)    ... and the transport lost it
#   q.feed_pdu(now, i, data, n)    ECU i answered data[0:n]
#   q.on_timer(now) · q.deadline() · q.poll() -> EV_SEND | EV_DONE
#
# The window is P2_client from the confirmation of the request.  An ECU that
# answered 0x78 inside it is waited for until its own P2*_client runs out
# (each 0x78 restarts it; more than cfg.max_pending ends it with
# A_PENDING_LIMIT); an ECU whose segmented answer started inside the window
# is waited for until the transport finishes it.  EV_DONE comes when the
# window is over and no ECU is still pending.  Answers are kept per ECU
# (status(i), nrc(i), answer(i)); a second final answer from one ECU, or an
# answer outside the window, is counted (duplicates, late), never stored
# over the first, and never raises: a flood of answers costs a counter.
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.codes import OK, A_PENDING_LIMIT, A_MALFORMED_RESPONSE, A_TIMEOUT_P2
from diagbridge.errors import ConfigError, UsageError
from diagbridge.evq import EventQueue
from diagbridge.uds.client.core import match, M_POSITIVE, M_NEGATIVE, M_PENDING, M_MALFORMED

EV_SEND = const(1)
EV_DONE = const(2)

# per-ECU status
ANS_NONE = const(0)         # no answer (yet)
ANS_POSITIVE = const(1)     # answer(i) holds it
ANS_NEGATIVE = const(2)     # nrc(i)
ANS_PENDING = const(3)      # 0x78 seen, final answer awaited
ANS_RECEIVING = const(4)    # segmented answer in progress
ANS_FAILED = const(5)       # result(i): N_* code, A_PENDING_LIMIT, A_TIMEOUT_P2,
                            # A_MALFORMED_RESPONSE

# States
S_IDLE = const(0)
S_QUEUED = const(1)
S_SENDING = const(2)
S_COLLECT = const(3)        # the window is open
S_TAIL = const(4)           # window over, some ECUs still pending / receiving


class FunctionalConfig:
    """p2_client_ms: the collection window; p2star_client_ms: per ECU after a
    0x78; max_pending: 0x78 per ECU (0 = no limit); max_answer: bytes kept
    per ECU answer (longer ones are truncated, answer_total(i) tells)."""

    def __init__(self, p2_client_ms=150, p2star_client_ms=5100, max_pending=0,
                 max_answer=255, max_request=62):
        for name, v, lo, hi in (("p2_client_ms", p2_client_ms, 1, 200000),
                                ("p2star_client_ms", p2star_client_ms, 1, 200000),
                                ("max_pending", max_pending, 0, 0xFFFF),
                                ("max_answer", max_answer, 1, 0x3FFFFFFE),
                                ("max_request", max_request, 1, 62)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ConfigError(name)
        self.p2_client_ms = p2_client_ms
        self.p2star_client_ms = p2star_client_ms
        self.max_pending = max_pending
        self.max_answer = max_answer
        self.max_request = max_request


class FunctionalQuery:
    def __init__(self, n_ecus, cfg=None):
        if not isinstance(n_ecus, int) or not 1 <= n_ecus <= 255:
            raise ConfigError("n_ecus")
        if cfg is None:
            cfg = FunctionalConfig()
        self.cfg = cfg
        self.n_ecus = n_ecus
        self.p2_us = cfg.p2_client_ms * 1000
        self.p2star_us = cfg.p2star_client_ms * 1000
        self.tx = bytearray(cfg.max_request)
        self._n = 0
        self._buf = [bytearray(cfg.max_answer) for _ in range(n_ecus)]
        self._views = [memoryview(b) for b in self._buf]
        self._status = bytearray(n_ecus)
        self._nrc = bytearray(n_ecus)
        self._result = bytearray(n_ecus)
        self._pend = [0] * n_ecus       # 0x78 count
        self._len = [0] * n_ecus
        self._total = [0] * n_ecus
        self._at = [None] * n_ecus      # per-ECU P2* deadline
        self._window_at = None
        self._events = EventQueue(4)
        self.state = S_IDLE
        self.tx_functional = True
        self.responders = 0
        self.duplicates = 0
        self.late = 0
        self.unexpected = 0

    # ---- application -----------------------------------------------------------
    def request(self, now, data, n):
        if self.state != S_IDLE and self.state != S_TAIL:
            raise UsageError("a functional request is outstanding")
        if n < 1 or n > len(self.tx) or n > len(data):
            raise UsageError("n")
        tx = self.tx
        for i in range(n):
            tx[i] = data[i]
        self._n = n
        for i in range(self.n_ecus):
            self._status[i] = ANS_NONE
            self._nrc[i] = 0
            self._result[i] = OK
            self._pend[i] = 0
            self._len[i] = 0
            self._total[i] = 0
            self._at[i] = None
        self.responders = 0
        self.duplicates = 0
        self.late = 0
        self.unexpected = 0
        self._window_at = None
        self.state = S_QUEUED
        self._events.push(EV_SEND)

    def busy(self):
        return self.state != S_IDLE

    def collecting(self):
        return self.state == S_COLLECT or self.state == S_TAIL or self.state == S_SENDING

    # ---- results (valid after EV_DONE until the next request) ------------------------
    def status(self, i):
        return self._status[i]

    def nrc(self, i):
        return self._nrc[i]

    def result(self, i):
        return self._result[i]

    def answer(self, i):
        """The positive answer of ECU i (memoryview, truncated to max_answer)."""
        return self._views[i][0:self._len[i]]

    def answer_total(self, i):
        return self._total[i]

    def pending_count(self, i):
        return self._pend[i]

    # ---- transport ---------------------------------------------------------------
    def pop_pdu(self, out):
        if self.state != S_QUEUED:
            return 0
        n = self._n
        if len(out) < n:
            raise UsageError("buffer too small")
        tx = self.tx
        for i in range(n):
            out[i] = tx[i]
        self.state = S_SENDING
        return n

    def sent(self, now, result=OK):
        if self.state != S_SENDING:
            return
        if result != OK:
            for i in range(self.n_ecus):
                self._result[i] = result
                self._status[i] = ANS_FAILED
            self._finish()
            return
        self.state = S_COLLECT
        self._window_at = ticks_add(now, self.p2_us)

    def rx_started(self, now, i):
        if not self._open(i) or self._status[i] == ANS_RECEIVING:
            return
        st = self._status[i]
        if st == ANS_NONE or st == ANS_PENDING:
            self._status[i] = ANS_RECEIVING
            self._at[i] = None

    def rx_failed(self, now, i, result):
        if 0 <= i < self.n_ecus and self._status[i] == ANS_RECEIVING:
            self._status[i] = ANS_FAILED
            self._result[i] = result
            self._check_done()

    def feed_pdu(self, now, i, data, n):
        if not 0 <= i < self.n_ecus or n < 1:
            self.unexpected += 1
            return
        st = self._status[i]
        if not self._open(i):
            self.late += 1
            return
        if st == ANS_POSITIVE or st == ANS_NEGATIVE or st == ANS_FAILED:
            self.duplicates += 1
            return
        m = match(self.tx, self._n, data, n)
        if m == M_PENDING:
            p = self._pend[i] + 1
            self._pend[i] = p
            lim = self.cfg.max_pending
            if lim and p > lim:
                self._fail(i, A_PENDING_LIMIT)
            else:
                self._status[i] = ANS_PENDING
                self._at[i] = ticks_add(now, self.p2star_us)
        elif m == M_POSITIVE:
            buf = self._buf[i]
            k = n if n < len(buf) else len(buf)
            for j in range(k):
                buf[j] = data[j]
            self._len[i] = k
            self._total[i] = n
            self._status[i] = ANS_POSITIVE
            self._at[i] = None
            self.responders += 1
        elif m == M_NEGATIVE:
            self._nrc[i] = data[2]
            self._status[i] = ANS_NEGATIVE
            self._at[i] = None
            self.responders += 1
        elif m == M_MALFORMED:
            self._fail(i, A_MALFORMED_RESPONSE)
            self.responders += 1
        else:
            self.unexpected += 1
            return
        self._check_done()

    def on_timer(self, now):
        st = self.state
        if st != S_COLLECT and st != S_TAIL:
            return
        ats = self._at
        for i in range(self.n_ecus):
            if due(now, ats[i]):
                ats[i] = None
                self._fail(i, A_TIMEOUT_P2)
        if st == S_COLLECT and due(now, self._window_at):
            self._window_at = None
            self.state = S_TAIL
        self._check_done()

    def poll(self):
        return self._events.pop()

    def deadline(self):
        st = self.state
        if st != S_COLLECT and st != S_TAIL:
            return None
        d = self._window_at
        ats = self._at
        for i in range(self.n_ecus):
            d = earliest(d, ats[i])
        return d

    # ---- internals -----------------------------------------------------------------
    def _open(self, i):
        """True when ECU i may still answer: inside the window, or pending/receiving."""
        if not 0 <= i < self.n_ecus:
            return False
        st = self.state
        if st == S_COLLECT or st == S_SENDING:
            return True
        if st == S_TAIL:
            s = self._status[i]
            return s == ANS_PENDING or s == ANS_RECEIVING
        return False

    def _fail(self, i, result):
        self._status[i] = ANS_FAILED
        self._result[i] = result
        self._at[i] = None

    def _check_done(self):
        if self.state != S_TAIL:
            return
        for i in range(self.n_ecus):
            s = self._status[i]
            if s == ANS_PENDING or s == ANS_RECEIVING:
                return
        self._finish()

    def _finish(self):
        self.state = S_IDLE
        self._window_at = None
        self._events.push(EV_DONE)
