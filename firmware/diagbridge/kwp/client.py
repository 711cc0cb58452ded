# KwpClient: the KWP2000 tester (ISO 14230-3 over SSF 14230-2), one request at
# a time through the K-Line data link's tester machine (kline/tester.py), with
# a TesterPresent keep-alive before P3max.  The same verbs as KLineTester, so
# the simulated wire or a K-Line adapter carries it unchanged:
#
#   c = KwpClient(TesterConfig(address=0xF1), keepalive_ms=2000)
#   c.start(now, 0x10)                       fast init (WuP + StartCommunication)
#   ... EV_READY (kb1, kb2, keyword)
#   c.request(now, b"\x21\x01", 2)           one request (SId + parameters)
#   ... EV_DONE: response[0:length], nrc (0, or the response code of a 7F)
#   c.stop(now)                              stopCommunication -> EV_STOPPED
#   feed_byte / feed_line / on_timer / poll / pop_byte / pop_line / low_us / deadline
#
# Timing is the link's: P2 for each answer, P2* (= P3max) after every
# 7F SId 78 (EV_PENDING; the request is never repeated), up to 3 transmissions
# on a timeout or a corrupt answer (then EV_FAILED with the K_* result), and
# the end of an exchange once P2max passes without another answer (segments
# are joined: the SId is kept once).  A negative answer is data: EV_DONE with
# result A_NEGATIVE_RESPONSE and `nrc` (kwp/nrc.rc_name names it); a positive
# answer whose SId is not the request's + 0x40 is A_UNEXPECTED_RESPONSE.
# Periodic transmission (set_periodic() before startDiagnosticSession 0x82):
# the first answer to each request is its EV_DONE, the ECU's repetitions are
# counted in `repetitions`, and the next request goes in a P3* window.
# Keep-alive: with keepalive_ms > 0, `3E 01` goes whenever the link has been
# quiet that long after the latest exchange (inside P3max = 5000 ms); its
# answers are not reported, a failure is EV_FAILED; a request made meanwhile
# waits and goes right after it.  Events: EV_* below;
# `result`, `nrc`, `response`, `length`, `peer`, `pending` (0x78 count) are
# valid until the next poll().  All buffers are allocated here.
from diagbridge._compat import const, copy_into
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, A_UNEXPECTED_RESPONSE
from diagbridge.errors import UsageError, config_int
from diagbridge.evq import EventQueue
from diagbridge.kline import frame as F
from diagbridge.kline.config import TesterConfig
from diagbridge.kline.events import (EV_KEY_BYTES, EV_RESPONSE, EV_PENDING as _L_PENDING,
                                     EV_DONE as _L_DONE, EV_FAILED as _L_FAILED,
                                     EV_STOPPED as _L_STOPPED)
from diagbridge.kline.tester import KLineTester

EV_READY = const(1)         # initialised: kb1, kb2, keyword, peer
EV_DONE = const(2)          # the request finished: result, nrc, response[0:length]
EV_FAILED = const(3)        # the request (or init, or keep-alive) failed: result
EV_STOPPED = const(4)       # communication ended (stopCommunication, P3max): result
EV_PENDING = const(5)       # a 7F SId 78 came: P2* runs

# States
S_OFF = const(0)
S_INIT = const(1)
S_READY = const(2)
S_BUSY = const(3)           # the application's request
S_KEEPALIVE = const(4)      # the client's own 3E 01

_TP = b"\x3e\x01"


class KwpClient:
    def __init__(self, cfg=None, keepalive_ms=2000, max_response=1024, events=8, trace=None):
        self.link = KLineTester(cfg if cfg is not None else TesterConfig(), trace)
        self.keepalive_us = config_int("keepalive_ms", keepalive_ms, 0, 4900) * 1000
        self.response = bytearray(config_int("max_response", max_response, 8, 65535))
        self._events = EventQueue(events)
        self.state = S_OFF
        self.target = 0
        self.functional = False
        self.result = OK
        self.nrc = 0
        self.length = 0
        self.peer = 0
        self.pending = 0
        self.responses = 0          # answers collected for the running request
        self.truncated = False      # the answer did not fit `response`
        self.repetitions = 0        # periodic mode: repetitions of the latest answer
        self.kb1 = 0
        self.kb2 = 0
        self.keyword = 0
        self._sid = 0
        self._tp_at = None
        self._q = bytearray(F.MAX_DATA)     # a request that waits for the keep-alive
        self._qn = 0
        self._qf = False

    # ---- requests ----------------------------------------------------------------
    def start(self, now, target, functional=False):
        """Fast init to `target` (physical address, or a functional group)."""
        if self.state != S_OFF:
            raise UsageError("start only when not initialised")
        self.target = target
        self.functional = functional
        self.state = S_INIT
        self.link.fast_init(now, target, functional)

    def request(self, now, data, n, functional=None):
        """One request data[0:n] (SId first) to the initialised target
        (functionally addressed when it was initialised so, unless told)."""
        if functional is None:
            functional = self.functional
        if not 1 <= n <= F.MAX_DATA:
            raise UsageError("request length")
        if self.state == S_KEEPALIVE and not self._qn:
            copy_into(self._q, 0, data, 0, n)       # goes once the keep-alive is answered
            self._qn = n
            self._qf = functional
            return
        if self.state != S_READY:
            raise UsageError("request only when initialised and idle")
        self._begin(now, data, n, functional)
        self.state = S_BUSY

    def stop(self, now):
        """stopCommunication (82): EV_STOPPED once the ECU answered C2."""
        self.request(now, b"\x82", 1)

    def set_periodic(self, on=True):
        self.link.set_periodic(on)

    def ready(self):
        return self.state == S_READY

    # ---- inputs --------------------------------------------------------------------
    def feed_byte(self, now, b, flags):
        self.link.feed_byte(now, b, flags)
        self._pump(now)

    def feed_line(self, now, level):
        self.link.feed_line(now, level)

    def on_timer(self, now):
        self.link.on_timer(now)
        self._pump(now)
        if self.state == S_READY and due(now, self._tp_at):
            self._tp_at = None
            self._begin(now, _TP, 2, self.functional)
            self.state = S_KEEPALIVE

    # ---- outputs -------------------------------------------------------------------
    def poll(self):
        return self._events.pop()

    def pop_byte(self, now):
        return self.link.pop_byte(now)

    def pop_line(self, now):
        return self.link.pop_line(now)

    @property
    def low_us(self):
        return self.link.low_us

    def deadline(self):
        d = self.link.deadline()
        if self.state == S_READY:
            d = earliest(d, self._tp_at)
        return d

    # ---- internals -----------------------------------------------------------------
    def _begin(self, now, data, n, functional):
        self._sid = data[0]
        self.length = 0
        self.nrc = 0
        self.pending = 0
        self.responses = 0
        self.repetitions = 0
        self.truncated = False
        self.result = OK
        self._tp_at = None
        self.link.request(now, self.target, data, n, functional)

    def _pump(self, now):
        link = self.link
        ev = link.poll()
        while ev:
            if ev == EV_KEY_BYTES:
                self.kb1 = link.kb1
                self.kb2 = link.kb2
                self.keyword = link.keyword
                self.peer = link.peer
            elif ev == EV_RESPONSE:
                if self.state == S_READY:
                    self.repetitions += 1       # periodic mode: the ECU repeats its answer
                else:
                    self._collect(link)
                    if link.periodic and self.state == S_BUSY:
                        self._done(now)         # no end of exchange in periodic mode
            elif ev == _L_PENDING:
                self.pending += 1
                if self.state == S_BUSY:
                    self._events.push(EV_PENDING)
            elif ev == _L_DONE:
                self._done(now)
            elif ev == _L_FAILED:
                self.result = link.result
                self.state = S_READY if link.initialised else S_OFF
                self._arm(now)
                self._events.push(EV_FAILED)
                self._dequeue(now)
            elif ev == _L_STOPPED:
                self.result = link.result
                self.state = S_OFF
                self._tp_at = None
                self._qn = 0
                self._events.push(EV_STOPPED)
            ev = link.poll()

    def _collect(self, link):
        buf = link.payload
        off = link.data_off
        k = link.data_len
        if self.responses and (self.functional or link.peer != self.peer or link.periodic):
            self.responses += 1         # another ECU's answer, a periodic repetition: the first is kept
            return
        if self.responses == 0:
            self.peer = link.peer
            start, src, cnt = 0, off, k
        else:
            start, src, cnt = self.length, off + 1, k - 1   # a segment: its SId once
        room = len(self.response) - start
        if cnt > room:
            cnt = room
            self.truncated = True
        copy_into(self.response, start, buf, src, cnt)
        self.length = start + cnt
        self.responses += 1

    def _done(self, now):
        st = self.state
        if st != S_INIT and st != S_BUSY and st != S_KEEPALIVE:
            return                              # periodic mode ended: nothing was running
        if st == S_INIT:
            self.state = S_READY
            self._arm(now)
            self._events.push(EV_READY)
            return
        r = self.response
        if self.length >= 3 and r[0] == F.SID_NEGATIVE_RESPONSE and r[1] == self._sid:
            self.nrc = r[2]
            self.result = A_NEGATIVE_RESPONSE
        elif self.length == 0 or r[0] != (self._sid + 0x40) & 0xFF:
            self.result = A_UNEXPECTED_RESPONSE
        self.state = S_READY
        self._arm(now)
        if st == S_BUSY:
            self._events.push(EV_DONE)
        elif self.result != OK:
            self._events.push(EV_FAILED)    # the keep-alive was refused
        self._dequeue(now)

    def _dequeue(self, now):
        n = self._qn
        if n and self.state == S_READY:
            self._qn = 0
            self._begin(now, self._q, n, self._qf)
            self.state = S_BUSY

    def _arm(self, now):
        if self.keepalive_us and self.link.initialised and not self.link.periodic:
            self._tp_at = ticks_add(now, self.keepalive_us)
        else:
            self._tp_at = None
