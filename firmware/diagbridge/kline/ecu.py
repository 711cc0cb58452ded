# The K-Line data link, ECU role (SSF 14230-2; 5-baud init from ISO 14230-2).
#
#   feed_byte(now, b, flags)  every byte the UART received, own echoes included
#   feed_line(now, level)     edges of the line (wake-up pattern, 5-baud address)
#   on_timer(now); deadline()
#   respond(now, data, n)     the application's answer to EV_REQUEST (SId + params)
#   poll() -> EV_*; pop_byte(now) -> byte to write now, or -1
#
# Not initialised, the ECU only listens for a wake-up pattern (TiniL 25+-1 ms
# low, first start bit TWuP 50+-1 ms after the falling edge) followed by a
# StartCommunication request (81/C1 Tgt Src 81 CS) to its physical address or
# one of its functional groups, or for its address at 5 baud.  Initialised, it
# takes requests that start >= P3min after the latest message on the line and
# answers StartCommunication (re-init), StopCommunication and
# AccessTimingParameter itself; every other request goes to the application
# as EV_REQUEST, whose respond() is sent P2 after the request (p2_ecu_us, or
# a P2random seeded by the ECU's address for a functional request, App. A).
# A 7F SId 78 answer keeps the request open: the next respond() goes P2min
# after it; respond(..., more=True) sends a segment, the next one follows P2
# after it.  Section 6.2.2: header, checksum or P4max errors and requests
# before P3min are ignored (EV_ERROR, a new P3 window); no request for P3max
# ends the communication silently (EV_STOPPED, K_TIMEOUT_P3MAX).  Every byte
# sent is compared with its echo; on a collision a functional response is
# repeated after the foreign message ends, with a new P2random.
#
# Periodic transmission mode (4.4.2): set_periodic(True / False) starts or
# ends it once the next response is out; meanwhile the last response goes
# again P2 after the end of the previous one until a request starts.
#
# For the KWP2000 layer: EV_REQUEST gives payload[data_off:data_off+data_len]
# (SId first), peer (tester address), functional; answer with respond() once
# within P2max (or 7F SId 78 first, then again within P2*max; unanswered, a
# physical request is reported as EV_ERROR K_TIMEOUT_P2MAX and dropped);
# call set_periodic() around startDiagnosticSession 0x82 / stopDiagnostic-
# Session; `timing` is the active set, `initialised` the link state;
# EV_INIT / EV_STOPPED tell it to reset its sessions.
from diagbridge._compat import const
from diagbridge.clock import ticks_add, ticks_diff, due, earliest
from diagbridge.codes import (OK, K_TIMEOUT_P2MAX, K_TIMEOUT_P3MAX, K_TIMEOUT_P4MAX, K_COLLISION,
                              K_WUP_ERROR, K_TIMEOUT_W, K_SYNC_ERROR, K_P3MIN_VIOLATION)
from diagbridge.errors import UsageError
from diagbridge.kline.config import EcuConfig
from diagbridge.kline import frame as F
from diagbridge.kline import timing as T
from diagbridge.kline.events import (EventRing, EV_INIT, EV_REQUEST, EV_SENT, EV_TIMING,
                                     EV_ERROR, EV_STOPPED)
from diagbridge.kline.keybytes import (extended_timing, supports_fmt_length,
                                       supports_length_byte)
from diagbridge.kline.fivebaud import ADDRESS_US, AddressDecoder
from diagbridge.kline import services as S
from diagbridge.kline.wire import MessageRx, MessageTx

# States
_S_OFF = const(0)       # not initialised, line quiet
_S_OFF_RX = const(1)    # not initialised, a message on the line
_S_5B_ADDR = const(2)   # an address arriving at 5 baud
_S_5B_TX = const(3)     # 5-baud init: sending 0x55, KB1, KB2 or the inverted address
_S_5B_WAIT = const(4)   # 5-baud init: waiting for the inverted KB2
_S_IDLE = const(5)      # initialised, P3 window open
_S_RX = const(6)        # initialised, a message on the line
_S_APP = const(7)       # a request is with the application
_S_TX_WAIT = const(8)   # a response waits for its start tick
_S_TX = const(9)        # sending a response
_S_DEFER = const(10)    # a response is owed; a foreign message is on the line
N_STATES = const(11)
# Inputs
_I_BYTE = const(0)
_I_FALL = const(1)
_I_RISE = const(2)
_I_GAP = const(3)       # inter-byte timeout (P4max / P1max)
_I_WINDOW = const(4)    # P3max (IDLE), end of the 5-baud address, W4 (5B_WAIT)
_I_ECHO_LOST = const(5)
_I_RESPOND = const(6)
N_INPUTS = const(7)
# Actions
_A_NONE = const(0)
_A_FIRST = const(1)     # first byte of a message
_A_BYTE = const(2)      # next byte of a message
_A_GAP = const(3)       # message ended by timeout
_A_FALL = const(4)
_A_RISE = const(5)
_A_5B_EDGE = const(6)
_A_5B_END = const(7)
_A_ECHO = const(8)
_A_ECHO_LOST = const(9)
_A_P3MAX = const(10)
_A_RESPOND = const(11)
_A_5B_INV = const(12)
_A_W_TIMEOUT = const(13)
_A_DEFER = const(14)    # a foreign byte while a response is owed
_A_UNANSWERED = const(15)   # the application let the P2 (P2*) window pass

_W = None
_NEXT = (
    # BYTE                    FALL                 RISE                  GAP                    WINDOW                   ECHO_LOST                 RESPOND
    ((_S_OFF_RX, _A_FIRST), (_S_OFF, _A_FALL), (_S_OFF, _A_RISE), _W, _W, _W, _W),                              # OFF
    ((_S_OFF_RX, _A_BYTE), (_S_OFF_RX, _A_FALL), (_S_OFF_RX, _A_RISE), (_S_OFF, _A_GAP), _W, _W, _W),          # OFF_RX
    (_W, (_S_5B_ADDR, _A_5B_EDGE), (_S_5B_ADDR, _A_5B_EDGE), _W, (_S_OFF, _A_5B_END), _W, _W),                # 5B_ADDR
    ((_S_5B_TX, _A_ECHO), _W, _W, _W, _W, (_S_OFF, _A_ECHO_LOST), _W),                                         # 5B_TX
    ((_S_5B_WAIT, _A_5B_INV), _W, _W, _W, (_S_OFF, _A_W_TIMEOUT), _W, _W),                                     # 5B_WAIT
    ((_S_RX, _A_FIRST), (_S_IDLE, _A_FALL), (_S_IDLE, _A_RISE), _W, (_S_OFF, _A_P3MAX), _W, _W),              # IDLE
    ((_S_RX, _A_BYTE), (_S_RX, _A_FALL), (_S_RX, _A_RISE), (_S_IDLE, _A_GAP), _W, _W, _W),                    # RX
    ((_S_DEFER, _A_DEFER), (_S_APP, _A_FALL), (_S_APP, _A_RISE), _W, (_S_IDLE, _A_UNANSWERED), _W, (_S_TX_WAIT, _A_RESPOND)),  # APP
    ((_S_DEFER, _A_DEFER), (_S_TX_WAIT, _A_FALL), (_S_TX_WAIT, _A_RISE), _W, _W, _W, _W),                     # TX_WAIT
    ((_S_TX, _A_ECHO), _W, _W, _W, _W, (_S_IDLE, _A_ECHO_LOST), _W),                                           # TX
    ((_S_DEFER, _A_BYTE), _W, _W, (_S_DEFER, _A_GAP), _W, _W, (_S_DEFER, _A_RESPOND)),                        # DEFER
)

# What happens once a response is out.
_AFTER_NONE = const(0)
_AFTER_INIT = const(1)
_AFTER_STOP = const(2)
_AFTER_DEFAULTS = const(3)
_AFTER_TIMING = const(4)


class KLineEcu:
    def __init__(self, cfg=None, trace=None):
        if cfg is None:
            cfg = EcuConfig()
        self.cfg = cfg
        self.trace = trace
        self.address = cfg.address
        self.timing = T.Timing()
        self.timing.set_defaults(extended_timing(cfg.kb1))
        self._next = T.Timing()
        self._byte_us = T.byte_time_us(cfg.baud)
        self.rx = MessageRx()
        self.tx = MessageTx()
        self.info = F.FrameInfo()
        self._ev = EventRing(cfg.events)
        self._rsp = bytearray(8)
        self.payload = memoryview(self.rx.buf)
        self.data_off = 0
        self.data_len = 0
        self.functional = False
        self.result = OK
        self.peer = 0
        self.state = _S_OFF
        self.initialised = False
        self._rng = 0x100 | cfg.address
        self._fall_at = None
        self._wup_at = None     # falling edge of the latest valid wake-up pattern
        self._cand = False      # the message on the line follows a valid WuP
        self._early = False
        self._p3_from = 0
        self._p3max_at = None
        self._gap_at = None
        self._tx_at = None
        self._echo_at = None
        self._win_at = None
        self._ref_at = 0        # end of the request (or of the previous 0x78 response)
        self._pending = False      # the response being sent is 7F SId 78
        self._pending_sent = False  # a 7F SId 78 went out: the next response follows P2min after it
        self._more = False          # the response being sent is a segment with more to come
        self._more_sent = False
        self._after = _AFTER_NONE
        self._periodic = False          # periodic transmission mode (section 4.4.2)
        self._periodic_next = -1        # 1 / 0: enter / leave it once the next response is out
        self._rep_n = 0
        self._5b = AddressDecoder()
        self._5b_step = 0
        self._5b_addr = 0

    # ---- inputs ---------------------------------------------------------------
    def feed_byte(self, now, b, flags):
        self._step(now, _I_BYTE, b, flags)

    def feed_line(self, now, level):
        self._step(now, _I_RISE if level else _I_FALL, level, 0)

    def on_timer(self, now):
        if due(now, self._gap_at):
            self._gap_at = None
            self._step(now, _I_GAP, 0, 0)
        if due(now, self._echo_at):
            self._echo_at = None
            self._step(now, _I_ECHO_LOST, 0, 0)
        if due(now, self._win_at):
            self._win_at = None
            self._step(now, _I_WINDOW, 0, 0)
        if due(now, self._p3max_at):
            self._p3max_at = None
            self._step(now, _I_WINDOW, 0, 0)

    def respond(self, now, data, n, more=False):
        """Answer the request of the latest EV_REQUEST with data[0:n].
        more=True: a segment (4.4.3); once its EV_SENT came, the next
        respond() goes P2 after it (not in periodic mode, where segmentation
        is not allowed)."""
        if _NEXT[self.state][_I_RESPOND] is None:
            raise UsageError("no request to answer")
        if not 1 <= n <= F.MAX_DATA or (n > F.MAX_FMT_LEN and not supports_length_byte(self.cfg.kb1)):
            raise UsageError("response length")
        if more and self._periodic:
            raise UsageError("no segmented responses in periodic mode")
        self._build(data, n, _AFTER_NONE)
        self._pending = n == 3 and data[0] == F.SID_NEGATIVE_RESPONSE and data[2] == F.RC_RESPONSE_PENDING
        self._more = more and not self._pending
        self._step(now, _I_RESPOND, 0, 0)

    def set_periodic(self, on):
        """Periodic transmission mode (the KWP2000 layer calls this when it
        answers startDiagnosticSession 0x82 positively, or stopDiagnosticSession):
        it starts or ends once the next response is out."""
        self._periodic_next = 1 if on else 0

    @property
    def periodic(self):
        return self._periodic

    # ---- outputs --------------------------------------------------------------
    def poll(self):
        ev = self._ev.pop()
        if ev:
            self.result = self._ev.result
            self.peer = self._ev.peer
        return ev

    def pop_byte(self, now):
        """The byte to write now (its tick has come, the previous echo is
        back), or -1."""
        if not due(now, self._tx_at) or not self.tx.pending():
            return -1
        self._tx_at = None
        self._echo_at = ticks_add(now, 2 * self._byte_us + self.cfg.echo_slack_us)
        if self.state == _S_TX_WAIT or self.state == _S_IDLE:   # IDLE: a periodic repetition
            self.state = _S_TX
        return self.tx.next_byte()

    def pop_line(self, now):
        return 0        # the ECU never drives the line for init patterns

    def deadline(self):
        return earliest(earliest(earliest(self._gap_at, self._tx_at),
                                 earliest(self._echo_at, self._win_at)), self._p3max_at)

    # ---- the machine ------------------------------------------------------------
    def _step(self, now, inp, b, flags):
        cell = _NEXT[self.state][inp]
        if cell is None:
            return
        self.state, a = cell
        if self.trace is not None:
            self.trace(inp, self.state, a)
        if a == _A_FIRST:
            self._first(now, b, flags)
        elif a == _A_BYTE:
            self._step_byte(now, b, flags)
        elif a == _A_GAP:
            self._ended_by_gap(now)
        elif a == _A_FALL:
            self._fall_at = now
        elif a == _A_RISE:
            self._rise(now)
        elif a == _A_5B_EDGE:
            self._5b_edge(now, b)
        elif a == _A_5B_END:
            self._5b_end(now)
        elif a == _A_ECHO:
            self._echo(now, b, flags)
        elif a == _A_ECHO_LOST:
            self._error(K_COLLISION)
            self._normal_operation()
            self._p3_window(now)
        elif a == _A_P3MAX:
            self._stop(K_TIMEOUT_P3MAX)
        elif a == _A_RESPOND:
            self._win_at = None
            if self.state == _S_TX_WAIT:
                self._schedule(now)
        elif a == _A_UNANSWERED:
            # No answer in time: a functional request may go unanswered; a
            # physical one is reported.
            self.tx.n = 0
            self._pending_sent = False
            self._more_sent = False
            if not self.functional:
                self._error(K_TIMEOUT_P2MAX)
            self._p3_window(self._ref_at)      # P3 runs from the end of the latest message
        elif a == _A_5B_INV:
            self._5b_inv(now, b, flags)
        elif a == _A_W_TIMEOUT:
            self._error(K_TIMEOUT_W)
        elif a == _A_DEFER:
            self._tx_at = None
            self.rx.clear()
            self.rx.add(now, b, flags)
            self._gap_at = self.rx.gap_deadline(self._byte_us, self._gap_us())

    def _gap_us(self):
        t = self.timing
        return t.p4max_us if t.p4max_us > t.p1max_us else t.p1max_us

    def _first(self, now, b, flags):
        self._p3max_at = None
        self._tx_at = None              # a periodic repetition gives way to the request
        self.tx.n = 0
        start = ticks_add(now, -self._byte_us)
        w = self._wup_at
        self._wup_at = None
        self._cand = False
        if w is not None:
            d = ticks_diff(start, w)
            self._cand = T.TWUP_US - T.TWUP_TOL_US <= d <= T.TWUP_US + T.TWUP_TOL_US
            if not self._cand and not self.initialised:
                self._error(K_WUP_ERROR)
        self._early = self.initialised and ticks_diff(start, self._p3_from) < self.timing.p3min_us
        self.rx.clear()
        self._step_byte(now, b, flags)

    def _step_byte(self, now, b, flags):
        if self.rx.add(now, b, flags):
            self._gap_at = None
            self._complete(now)
        else:
            self._gap_at = self.rx.gap_deadline(self._byte_us, self._gap_us())

    def _ended_by_gap(self, now):
        rx = self.rx
        if self.state == _S_DEFER:
            self._ref_at = rx.last_at
            self._after_foreign(now)
            return
        if (self.initialised or self._cand) and rx.n >= 2 and (
                rx.buf[1] == self.address or rx.buf[1] in self.cfg.groups):
            self._error(K_TIMEOUT_P4MAX)
        self._p3_window(rx.last_at)

    def _for_me(self, info):
        if info.functional:
            return info.tgt in self.cfg.groups
        return info.tgt == self.address

    def _complete(self, now):
        rx = self.rx
        info = self.info
        if self.state == _S_DEFER:
            self._ref_at = now
            self._after_foreign(now)
            return
        kb1 = self.cfg.kb1
        if self._cand:
            r = F.parse(rx.buf, rx.n, info, True, False)
        else:
            r = F.parse(rx.buf, rx.n, info, supports_fmt_length(kb1), supports_length_byte(kb1))
        if r == OK and rx.fault != OK:
            r = rx.fault
        if r != OK:
            if self.initialised or self._cand:
                self._error(r)
            self._p3_window(now)
            return
        if not self._for_me(info):
            self._p3_window(now)
            return
        d = rx.buf[info.data_off]
        if d == F.SID_START_COMMUNICATION and info.data_len == 1 and (self._cand or self.initialised):
            self._start_comm(now)
            return
        if not self.initialised:
            self._p3_window(now)
            return
        if self._early:
            self._error(K_P3MIN_VIOLATION)
            self._p3_window(now)
            return
        self.functional = info.functional
        self.peer = info.src
        self._ref_at = now
        self._pending = False
        self._pending_sent = False
        self._more_sent = False
        if d == F.SID_STOP_COMMUNICATION:
            self._stop_comm(now)
        elif d == F.SID_ACCESS_TIMING_PARAMETER:
            self._atp(now)
        else:
            self.data_off = info.data_off
            self.data_len = info.data_len
            self._await_app()
            self._ev.push(EV_REQUEST, OK, info.src)

    def _p3_window(self, at):
        """Ignore what came; a new P3 window opens at tick `at`.  In periodic
        mode the last response goes again P2 after `at` unless a request
        starts first (P3*); P3max does not run."""
        if not self.initialised:
            self.state = _S_OFF
            return
        self.state = _S_IDLE
        self._p3_from = at
        if self._periodic and self._rep_n:
            self._p3max_at = None
            self.tx.start(self._rep_n)
            d = self.cfg.p2_ecu_us
            if d < self.timing.p2min_us:
                d = self.timing.p2min_us
            self._tx_at = ticks_add(at, d)
            return
        p3max = self.timing.p3max_us
        self._p3max_at = None if p3max is None else ticks_add(at, p3max + self._byte_us + 1)

    def _normal_operation(self):
        # Section 6.2.2: an ECU whose repeated responses fail returns to normal operation.
        if self._periodic:
            self._periodic = False
            self.timing.set_defaults(extended_timing(self.cfg.kb1))

    # ---- services of the data link --------------------------------------------
    def _start_comm(self, now):
        info = self.info
        self.functional = info.functional
        self.peer = info.src
        self._ref_at = now
        self._pending = False
        self._pending_sent = False
        self._more_sent = False
        n = S.start_communication(self._rsp, self.cfg.kb1, self.cfg.kb2)
        self._build(self._rsp, n, _AFTER_INIT)
        self._schedule(now)

    def _stop_comm(self, now):
        r = self._rsp
        n = S.stop_communication(r, self.info.data_len, self.cfg.stop_allowed)
        self._build(r, n, _AFTER_STOP if r[0] == F.SID_STOP_COMMUNICATION_PR else _AFTER_NONE)
        self._schedule(now)

    def _atp(self, now):
        r = self._rsp
        n = S.access_timing_parameter(r, self.rx.buf, self.info.data_off, self.info.data_len,
                                      self.timing, self._next, self.cfg.limits,
                                      self.cfg.atp_allowed)
        after = _AFTER_NONE
        if n == 2 and r[0] == F.SID_ACCESS_TIMING_PARAMETER_PR:
            after = _AFTER_DEFAULTS if r[1] == T.TPI_SET_DEFAULTS else _AFTER_TIMING
        self._build(r, n, after)
        self._schedule(now)

    # ---- sending ------------------------------------------------------------------
    def _build(self, data, n, after):
        in_fmt = not supports_length_byte(self.cfg.kb1)
        k = F.build(self.tx.buf, False, self.peer, self.address, data, 0, n, in_fmt)
        self.tx.start(k)
        self._after = after

    def _schedule(self, now):
        """The response goes P2 after the reference end (later if late)."""
        if self._pending_sent:
            delay = self.timing.p2min_us
        elif self.functional and not self._more_sent:
            delay = self._p2random()
        else:
            delay = self.cfg.p2_ecu_us
            if delay < self.timing.p2min_us:
                delay = self.timing.p2min_us
        at = ticks_add(self._ref_at, delay)
        if ticks_diff(at, now) < 0:
            at = now
        self._tx_at = at
        self.state = _S_TX_WAIT

    def _p2random(self):
        # App. A: P2random in [P2min, P2max) in 1 ms steps, from a 16-bit
        # xorshift seeded by the ECU's address.
        x = self._rng
        x ^= (x << 7) & 0xFFFF
        x ^= x >> 9
        x ^= (x << 8) & 0xFFFF
        self._rng = x
        t = self.timing
        p2max = t.p2max_us if t.p2max_us is not None else t.p2min_us + 25000
        steps = (p2max - t.p2min_us) // 1000
        if steps < 1:
            steps = 1
        return t.p2min_us + (x % steps) * 1000

    def _echo(self, now, b, flags):
        tx = self.tx
        self._echo_at = None
        if tx.echo(now, b, flags) != OK:
            self._collision(now, b, flags)
            return
        if not tx.done():
            self._tx_at = ticks_add(now, self.cfg.p1_tx_us)
            return
        if self.state == _S_5B_TX:
            self._5b_sent(now)
        else:
            self._sent(now)

    def _collision(self, now, b, flags):
        self._error(K_COLLISION)
        self._tx_at = None
        if self.state == _S_TX and self.functional:
            # App. A: abort, wait for the end of the message on the line, retry.
            self.tx.start(self.tx.n)
            self.state = _S_DEFER
            self.rx.clear()
            self.rx.add(now, b, flags)
            self._gap_at = self.rx.gap_deadline(self._byte_us, self._gap_us())
        elif self.state == _S_TX:
            self._normal_operation()
            self._p3_window(now)
        else:
            self.state = _S_OFF

    def _after_foreign(self, now):
        self._gap_at = None
        if self.tx.n and self.tx.i == 0:
            self._schedule(now)
        else:
            self._await_app()

    def _await_app(self):
        # The response must start within P2 (P2* after a 0x78) of _ref_at.
        self.state = _S_APP
        t = self.timing
        w = t.p3max_us if self._pending_sent else t.p2max_us
        self._win_at = None if w is None else ticks_add(self._ref_at, w)

    def _sent(self, now):
        after = self._after
        self._after = _AFTER_NONE       # a periodic repetition changes nothing
        self._ev.push(EV_SENT, OK, self.peer)
        self._pending_sent = self._pending
        self._more_sent = self._more
        self._more = False
        if self._pending or self._more_sent:
            self._ref_at = now
            self.tx.n = 0
            self._await_app()
            return
        self._rep_n = self.tx.n         # what periodic mode repeats
        self.tx.n = 0
        if self._periodic_next >= 0:
            # section 4.4.2: periodic mode (and its timing) starts or ends once
            # the response that asked for it is out
            self._periodic = self._periodic_next == 1
            self._periodic_next = -1
            if self._periodic:
                self.timing.set_periodic_defaults()
            else:
                self.timing.set_defaults(extended_timing(self.cfg.kb1))
            self._ev.push(EV_TIMING, OK, self.peer)
        if after == _AFTER_INIT:
            self.initialised = True
            self._periodic = False
            self.timing.set_defaults(extended_timing(self.cfg.kb1))
            self._ev.push(EV_INIT, OK, self.peer)
        elif after == _AFTER_STOP:
            self._stop(OK)
            return
        elif after == _AFTER_DEFAULTS:
            if self._periodic:
                self.timing.set_periodic_defaults()
            else:
                self.timing.set_defaults(extended_timing(self.cfg.kb1))
            self._ev.push(EV_TIMING, OK, self.peer)
        elif after == _AFTER_TIMING:
            self.timing.copy_from(self._next)
            self._ev.push(EV_TIMING, OK, self.peer)
        self._p3_window(now)

    def _stop(self, result):
        self.initialised = False
        self._periodic = False
        self._periodic_next = -1
        self.state = _S_OFF
        self._p3max_at = None
        self._gap_at = None
        self._tx_at = None
        self._pending_sent = False
        self._more_sent = False
        self.timing.set_defaults(extended_timing(self.cfg.kb1))
        self._ev.push(EV_STOPPED, result, self.peer)

    def _error(self, result):
        self._ev.push(EV_ERROR, result, self.peer)

    # ---- wake-up pattern and 5-baud address ----------------------------------------
    def _rise(self, now):
        fall = self._fall_at
        if fall is None:
            return
        low = ticks_diff(now, fall)
        if T.TINIL_US - T.TINIL_TOL_US <= low <= T.TINIL_US + T.TINIL_TOL_US:
            self._wup_at = fall
            return
        self._wup_at = None
        if self.initialised:
            return
        if self.cfg.five_baud and AddressDecoder.starts(low):
            self.state = _S_5B_ADDR
            self._5b.start(fall)
            self._win_at = ticks_add(fall, ADDRESS_US)
            self._5b_edge(now, 1)
        else:
            self._error(K_WUP_ERROR)

    def _5b_edge(self, now, level):
        if not self._5b.edge(now, level):
            self._win_at = None
            self.state = _S_OFF
            self._error(K_SYNC_ERROR)

    def _5b_end(self, now):
        addr = self._5b.end()
        if addr < 0:
            self._error(K_SYNC_ERROR)       # no stop bit: the line is still low
            return
        if addr != self.address and addr not in self.cfg.groups:
            return
        self._5b_addr = addr
        self._5b_step = 0
        self._send1(0x55, ticks_add(now, self.cfg.w1_us))

    def _send1(self, b, at):
        self.tx.buf[0] = b
        self.tx.start(1)
        self._tx_at = at
        self.state = _S_5B_TX

    def _5b_sent(self, now):
        # 0x55 out -> KB1 after W2 -> KB2 after W3 -> wait for ~KB2 (W4);
        # ~address out -> initialised.
        step = self._5b_step
        self._5b_step = step + 1
        if step == 0:
            self._send1(self.cfg.kb1, ticks_add(now, self.cfg.w2_us))
        elif step == 1:
            self._send1(self.cfg.kb2, ticks_add(now, self.cfg.w3_us))
        elif step == 2:
            self.state = _S_5B_WAIT
            self._win_at = ticks_add(now, T.W4_MAX_US + self._byte_us + 1)
        else:
            self.initialised = True
            self.timing.set_defaults(extended_timing(self.cfg.kb1))
            self.functional = self._5b_addr != self.address
            self._ev.push(EV_INIT, OK, 0)
            self._p3_window(now)

    def _5b_inv(self, now, b, flags):
        self._win_at = None
        if flags or b != (~self.cfg.kb2) & 0xFF:
            self.state = _S_OFF
            self._error(K_SYNC_ERROR)
            return
        self._send1((~self._5b_addr) & 0xFF, ticks_add(now, self.cfg.w4_us))
