# The K-Line data link, tester role (SSF 14230-2; 5-baud init from ISO 14230-2).
#
#   fast_init(now, target, functional)   WuP + StartCommunication (81/C1 Tgt Src 81 CS)
#   five_baud_init(now, address)         address at 5 baud, 0x55, KB1 KB2, ~KB2, ~address
#   request(now, target, data, n, functional)   one request (SId + params)
#   feed_byte(now, b, flags); feed_line(now, level) (ignored); on_timer(now)
#   poll() -> EV_*; pop_byte(now) -> byte or -1; pop_line(now) -> LINE_*; deadline()
#
# Init: the line must have been idle TIdle (300 ms after power-on, P3min after
# StopCommunication or a failed init, 0 after a P3max timeout; W5 before a
# 5-baud address); then LINE_LOW for TiniL (low_us), LINE_HIGH, and the first
# request byte TWuP after the falling edge.  Key bytes are checked (parity,
# a meaning this link can use) and decoded: kb1, kb2, keyword.
# Requests: bytes P4 apart (p4_tx_us), each sent after the previous one's echo
# matched; the first byte P3 after the latest message on the line.  Each
# response is an EV_RESPONSE; a new P2 window opens after it (segmented or
# several ECUs); P2max of silence ends the exchange (EV_DONE).  7F SId 78
# switches to P2* (P3max) and the request is never repeated.  Section 6.2.1:
# a P2max timeout with no valid response, a checksum / header error or a
# P1max truncation repeats the request in a new P3 window, up to `retries`
# times (3 transmissions by default), then EV_FAILED.  P3max without a
# request ends the communication (EV_STOPPED, K_TIMEOUT_P3MAX): the next
# layer keeps the link alive with TesterPresent before `p3max_at()`.
# AccessTimingParameter set (TPI 01 / 03) and StopCommunication are followed:
# the new timing governs everything after the last byte of the C3 response.
# Periodic transmission mode: set_periodic() before the 0x82 session request.
#
# For the KWP2000 layer: one request at a time; EV_RESPONSE gives
# payload[data_off:data_off+data_len] (SId first) and peer (several per
# request: segments, several ECUs, periodic repetitions); EV_DONE / EV_FAILED
# end the exchange; EV_PENDING means a 0x78 came; send TesterPresent before
# p3max_at() to keep the link; EV_STOPPED means a new init is needed.
from diagbridge._compat import const
from diagbridge.clock import ticks_add, ticks_diff, due, earliest
from diagbridge.codes import (OK, K_TIMEOUT_P1MAX, K_TIMEOUT_P2MAX, K_TIMEOUT_P3MAX,
                              K_COLLISION, K_UNEXPECTED_MESSAGE, K_KEY_BYTES_ERROR,
                              K_TIMEOUT_W, K_SYNC_ERROR)
from diagbridge.errors import UsageError, config_int
from diagbridge.kline.config import TesterConfig
from diagbridge.kline import frame as F
from diagbridge.kline import timing as T
from diagbridge.kline.events import (EventRing, EV_KEY_BYTES, EV_RESPONSE, EV_PENDING,
                                     EV_DONE, EV_FAILED, EV_ERROR, EV_STOPPED, LINE_NONE,
                                     LINE_LOW, LINE_HIGH)
from diagbridge.kline.keybytes import (KB1_SSF, KB2_SSF, key_bytes_valid, keyword,
                                       extended_timing, supports_length_byte)
from diagbridge.kline.fivebaud import AddressPulses
from diagbridge.kline.wire import MessageRx, MessageTx

# States
_S_OFF = const(0)           # not initialised
_S_IDLE_WAIT = const(1)     # init asked for: waiting for the idle time
_S_WUP = const(2)           # wake-up pattern on the line
_S_5B_ADDR = const(3)       # address going out at 5 baud
_S_5B_RX = const(4)         # 5-baud init: waiting for 0x55, KB1, KB2, ~address
_S_TX = const(5)            # sending a request (or ~KB2)
_S_WAIT = const(6)          # P2 window: waiting for a response to start
_S_RX = const(7)            # receiving a response
_S_READY = const(8)         # initialised, no exchange running: request() allowed
N_STATES = const(9)
# Inputs
_I_FAST_INIT = const(0)
_I_FIVE_INIT = const(1)
_I_REQUEST = const(2)
_I_BYTE = const(3)
_I_GAP = const(4)           # P1max between response bytes
_I_WINDOW = const(5)        # idle time reached, P2/P2* window or W window ran out
_I_ECHO_LOST = const(6)
_I_P3MAX = const(7)
N_INPUTS = const(8)
# Actions
_A_NONE = const(0)
_A_INIT = const(1)          # queue a fast init, wait for TIdle
_A_INIT5 = const(2)         # queue a 5-baud init, wait for W5
_A_REQUEST = const(3)
_A_IDLE_BYTE = const(4)     # traffic while waiting: restart the idle time / P3
_A_START_WUP = const(5)
_A_ECHO = const(6)
_A_ECHO_LOST = const(7)
_A_FIRST = const(8)         # first byte of a response
_A_BYTE = const(9)
_A_GAP = const(10)
_A_WINDOW = const(11)       # P2 window over: done, repeat or fail
_A_5B_BYTE = const(12)
_A_5B_TIMEOUT = const(13)
_A_P3MAX = const(14)
_A_PERIODIC_REQ = const(15)     # periodic mode: send in the next P3* window

_W = None
_NEXT = (
    # FAST_INIT                 FIVE_INIT                REQUEST                 BYTE                          GAP                 WINDOW                          ECHO_LOST                P3MAX
    ((_S_IDLE_WAIT, _A_INIT), (_S_IDLE_WAIT, _A_INIT5), _W, (_S_OFF, _A_IDLE_BYTE), _W, _W, _W, _W),                                                 # OFF
    (_W, _W, _W, (_S_IDLE_WAIT, _A_IDLE_BYTE), _W, (_S_WUP, _A_START_WUP), _W, _W),                                                               # IDLE_WAIT
    (_W, _W, _W, _W, _W, _W, _W, _W),                                                                                                              # WUP
    (_W, _W, _W, _W, _W, _W, _W, _W),                                                                                                              # 5B_ADDR
    (_W, _W, _W, (_S_5B_RX, _A_5B_BYTE), _W, (_S_OFF, _A_5B_TIMEOUT), _W, _W),                                                                    # 5B_RX
    (_W, _W, _W, (_S_TX, _A_ECHO), _W, _W, (_S_WAIT, _A_ECHO_LOST), _W),                                                                           # TX
    (_W, _W, (_S_WAIT, _A_PERIODIC_REQ), (_S_RX, _A_FIRST), _W, (_S_READY, _A_WINDOW), _W, _W),                                                    # WAIT
    (_W, _W, (_S_RX, _A_PERIODIC_REQ), (_S_RX, _A_BYTE), (_S_WAIT, _A_GAP), _W, _W, _W),                                                         # RX
    ((_S_IDLE_WAIT, _A_INIT), _W, (_S_TX, _A_REQUEST), (_S_READY, _A_IDLE_BYTE), _W, _W, _W, (_S_OFF, _A_P3MAX)),                                 # READY
)

# What the running exchange is.
_X_REQ = const(0)
_X_INIT = const(1)
_X_STOP = const(2)
_X_5B = const(3)


class KLineTester:
    def __init__(self, cfg=None, trace=None):
        if cfg is None:
            cfg = TesterConfig()
        self.cfg = cfg
        self.trace = trace
        self.address = cfg.address
        self.timing = T.Timing()
        self._byte_us = T.byte_time_us(cfg.baud)
        self.rx = MessageRx()
        self.tx = MessageTx()
        self.info = F.FrameInfo()
        self._ev = EventRing(cfg.events)
        self.payload = memoryview(self.rx.buf)
        self.data_off = 0
        self.data_len = 0
        self.result = OK
        self.peer = 0
        self.kb1 = 0
        self.kb2 = 0
        self.keyword = 0
        self.low_us = 0         # duration of the low pulse a LINE_LOW starts
        self.p2_us = 0          # end of the previous message -> start of the latest response
        self.tries = 0          # transmissions of the running request
        self.state = _S_OFF
        self.initialised = False
        self._len_byte = True   # the ECU's key bytes allow the length byte
        self._mode = _X_REQ
        self._target = 0
        self._functional = False
        self._sid = 0
        self._got = 0
        self._err = OK
        self._pending = False
        self._stopped = False
        self._atp = -1
        self._atp_vals = bytearray(5)
        self._periodic = False
        self._periodic_next = -1
        self._queued = False        # periodic: a request waits for the next repetition's end
        self._bus_end = 0
        self._idle_from = None
        self._tidle_us = cfg.tidle_us
        self._tx_at = None
        self._echo_at = None
        self._gap_at = None
        self._win_at = None
        self._p3max_at = None
        self._line_at = None
        self._line_next = LINE_NONE
        self._fall_at = 0
        self._5b_addr = 0
        self._5b = AddressPulses()
        self._5b_i = 0

    # ---- application --------------------------------------------------------------
    def fast_init(self, now, target, functional=False):
        if _NEXT[self.state][_I_FAST_INIT] is None:
            raise UsageError("fast init only when no exchange runs")
        b = self.tx.buf
        b[0] = (F.FMT_FUNCTIONAL if functional else F.FMT_PHYSICAL) | 1
        b[1] = target & 0xFF
        b[2] = self.address
        b[3] = F.SID_START_COMMUNICATION
        b[4] = F.checksum(b, 0, 4)
        self.tx.start(5)
        self._new_exchange(_X_INIT, target, functional, F.SID_START_COMMUNICATION)
        self._step(now, _I_FAST_INIT, 0, 0)

    def five_baud_init(self, now, address):
        if _NEXT[self.state][_I_FIVE_INIT] is None:
            raise UsageError("5-baud init only when not initialised")
        self._5b_addr = config_int("address", address, 0, 0xFF)
        self._new_exchange(_X_5B, address, False, 0)
        self._step(now, _I_FIVE_INIT, 0, 0)

    def request(self, now, target, data, n, functional=False):
        cell = _NEXT[self.state][_I_REQUEST]
        if cell is None or (cell[1] == _A_PERIODIC_REQ and (not self._periodic or self._queued)):
            raise UsageError("request only when initialised and no exchange runs")
        k = F.build(self.tx.buf, functional, target, self.address, data, 0, n,
                    not self._len_byte)
        self.tx.start(k)
        sid = data[0]
        self._new_exchange(_X_STOP if sid == F.SID_STOP_COMMUNICATION else _X_REQ,
                           target, functional, sid)
        if sid == F.SID_ACCESS_TIMING_PARAMETER and n >= 2 and (
                (data[1] == T.TPI_SET_DEFAULTS and n == 2) or (data[1] == T.TPI_SET_VALUES and n == 7)):
            self._atp = data[1]
            if n == 7:
                for i in range(5):
                    self._atp_vals[i] = data[2 + i]
        self._step(now, _I_REQUEST, 0, 0)

    def set_periodic(self, on=True):
        """Periodic transmission mode (section 4.4.2), asked for with
        startDiagnosticSession 0x82: it starts with the next response; from
        then on every repetition is an EV_RESPONSE, request() is allowed
        between them and goes in the next P3* window (P3min after a
        repetition).  It ends when the repetitions stop for P2max (after the
        stopDiagnosticSession response): EV_DONE, normal default timing."""
        self._periodic_next = 1 if on else -1

    @property
    def periodic(self):
        return self._periodic

    def p3max_at(self):
        """The tick by which the next request must start, or None."""
        return self._p3max_at

    # ---- inputs -------------------------------------------------------------------
    def feed_byte(self, now, b, flags):
        self._step(now, _I_BYTE, b, flags)

    def feed_line(self, now, level):
        pass        # the tester drives the init patterns; it does not read edges

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
            self._step(now, _I_P3MAX, 0, 0)

    # ---- outputs ------------------------------------------------------------------
    def poll(self):
        ev = self._ev.pop()
        if ev:
            self.result = self._ev.result
            self.peer = self._ev.peer
        return ev

    def pop_byte(self, now):
        if not due(now, self._tx_at) or not self.tx.pending():
            return -1
        self._tx_at = None
        self._echo_at = ticks_add(now, 2 * self._byte_us + self.cfg.echo_slack_us)
        return self.tx.next_byte()

    def pop_line(self, now):
        """LINE_LOW (for low_us) or LINE_HIGH when due, else LINE_NONE."""
        if not due(now, self._line_at):
            return LINE_NONE
        act = self._line_next
        if act == LINE_LOW:
            self._line_next = LINE_HIGH
            self._line_at = ticks_add(now, self.low_us)
            return LINE_LOW
        if self.state == _S_WUP:
            self._line_at = None
            self._tx_at = ticks_add(self._fall_at, self.cfg.twup_us)
            self.state = _S_TX
        else:
            self._5b_next(now)
        return LINE_HIGH

    def deadline(self):
        return earliest(earliest(earliest(self._gap_at, self._tx_at),
                                 earliest(self._echo_at, self._win_at)),
                        earliest(self._p3max_at, self._line_at))

    # ---- the machine ----------------------------------------------------------------
    def _new_exchange(self, mode, target, functional, sid):
        self._mode = mode
        self._target = target & 0xFF
        self._functional = functional
        self._sid = sid
        self._atp = -1
        self.tries = 0

    def _step(self, now, inp, b, flags):
        cell = _NEXT[self.state][inp]
        if cell is None:
            return
        self.state, a = cell
        if self.trace is not None:
            self.trace(inp, self.state, a)
        if a == _A_INIT or a == _A_INIT5:
            if self._idle_from is None:
                self._idle_from = now
            if a == _A_INIT5 and self._tidle_us < T.W5_US:
                self._tidle_us = T.W5_US
            self._idle_wait(now)
        elif a == _A_IDLE_BYTE:
            self._idle_from = now
            self._bus_end = now
            if self.state == _S_IDLE_WAIT:
                self._idle_wait(now)
            elif self.state == _S_READY:
                self._arm_p3max()
        elif a == _A_START_WUP:
            self._p3max_at = None
            if self._mode == _X_5B:
                self.state = _S_5B_ADDR
                self._5b.start(now, self._5b_addr)
                self._5b_next(now)
            else:
                self._fall_at = now
                self.low_us = self.cfg.tinil_us
                self._line_next = LINE_LOW
                self._line_at = now
        elif a == _A_REQUEST:
            self._p3max_at = None
            self._transmit(now)
        elif a == _A_ECHO:
            self._echo(now, b, flags)
        elif a == _A_ECHO_LOST:
            self._abort(now)
        elif a == _A_FIRST:
            self.rx.clear()
            self.p2_us = ticks_diff(ticks_add(now, -self._byte_us), self._bus_end)
            self._byte(now, b, flags)
        elif a == _A_BYTE:
            self._byte(now, b, flags)
        elif a == _A_GAP:
            self._fault(K_TIMEOUT_P1MAX)
            self._bus_end = self.rx.last_at
            self._p2_window(self.rx.last_at)
        elif a == _A_WINDOW:
            self._window_over(now)
        elif a == _A_5B_BYTE:
            self._5b_byte(now, b, flags)
        elif a == _A_5B_TIMEOUT:
            self._init_failed(now, K_TIMEOUT_W)
        elif a == _A_P3MAX:
            self._ended(now, K_TIMEOUT_P3MAX, T.TIDLE_P3MAX_US)
        elif a == _A_PERIODIC_REQ:
            start = ticks_add(self._bus_end, self._p3_gap())
            if ticks_diff(start, now) < 0:
                start = now
            if self.state == _S_WAIT and ticks_diff(start, self._bus_end) <= self.timing.p3s_max_us:
                self._transmit(now)
            else:
                self._queued = True         # after the next repetition

    def _idle_wait(self, now):
        at = ticks_add(self._idle_from, self._tidle_us)
        if self.initialised:        # another ECU is initialised: the WuP goes in a P3 window
            p3 = ticks_add(self._bus_end, self._p3_gap())
            if ticks_diff(p3, at) > 0:
                at = p3
        if ticks_diff(at, now) < 0:
            at = now
        self._win_at = at

    def _p3_gap(self):
        if self._periodic:
            return self.timing.p3min_us     # P3*min
        g = self.cfg.p3_tx_us
        return g if g > self.timing.p3min_us else self.timing.p3min_us

    def _arm_p3max(self):
        p3max = self.timing.p3max_us
        self._p3max_at = None if p3max is None else ticks_add(self._bus_end, p3max)

    def _transmit(self, now):
        """(Re)send the request in tx: P3 after the latest message on the line."""
        self.tx.start(self.tx.n)
        self.tries += 1
        self._win_at = None
        at = ticks_add(self._bus_end, self._p3_gap())
        if ticks_diff(at, now) < 0:
            at = now
        self._tx_at = at
        self.state = _S_TX

    def _echo(self, now, b, flags):
        self._echo_at = None
        tx = self.tx
        if tx.echo(now, b, flags) != OK:
            self._abort(now)
            return
        if not tx.done():
            self._tx_at = ticks_add(now, self.cfg.p4_tx_us)
            return
        self._bus_end = now
        if self._mode == _X_5B:
            self.state = _S_5B_RX
            self._win_at = ticks_add(now, T.W4_MAX_US + self._byte_us + 1)
            return
        self._got = 0
        self._err = OK
        self._pending = False
        self._stopped = False
        self._p2_window(now)

    def _abort(self, now):
        # A collision (or no echo): the transmission counts; the P2 window
        # that follows decides between a repeat and a failure.
        self._fault(K_COLLISION)
        self._tx_at = None
        self._echo_at = None
        self._bus_end = now
        self._got = 0
        self._pending = False
        if self._mode == _X_5B:
            self._init_failed(now, K_COLLISION)
            return
        self._p2_window(now)

    def _p2_window(self, at):
        t = self.timing
        w = t.p3max_us if self._pending else t.p2max_us
        self.state = _S_WAIT
        self._win_at = None if w is None else ticks_add(at, w + self._byte_us + 1)

    def _byte(self, now, b, flags):
        if self.rx.add(now, b, flags):
            self._gap_at = None
            self._response(now)
        else:
            self._gap_at = self.rx.gap_deadline(self._byte_us, self.timing.p1max_us)

    def _fault(self, code):
        self._err = code
        self._ev.push(EV_ERROR, code, self._target)

    def _response(self, now):
        rx = self.rx
        info = self.info
        self._bus_end = now
        r = F.parse(rx.buf, rx.n, info, True, True)
        if r == OK and rx.fault != OK:
            r = rx.fault
        if r != OK:
            self._fault(r)
        elif info.tgt != self.address:
            pass                                    # not for this tester
        elif not self._functional and info.src != self._target:
            self._fault(K_UNEXPECTED_MESSAGE)
        else:
            self._accept(now, info)
        if self._queued:
            self._queued = False
            self._transmit(now)
        else:
            self._p2_window(now)

    def _accept(self, now, info):
        buf = self.rx.buf
        d = info.data_off
        sid = buf[d]
        self.data_off = d
        self.data_len = info.data_len
        if self._mode == _X_INIT:
            if sid != F.SID_START_COMMUNICATION_PR or info.data_len != 3:
                self._fault(K_UNEXPECTED_MESSAGE)
                return
            kb1 = buf[d + 1]
            kb2 = buf[d + 2]
            if not key_bytes_valid(kb1, kb2) or (self.cfg.ssf_only and (kb1 != KB1_SSF or kb2 != KB2_SSF)):
                self._fault(K_KEY_BYTES_ERROR)
                return
            self._key_bytes(kb1, kb2, info.src)
            self._got += 1
            return
        if (info.data_len == 3 and sid == F.SID_NEGATIVE_RESPONSE and buf[d + 1] == self._sid
                and buf[d + 2] == F.RC_RESPONSE_PENDING):
            self._pending = True
            self._ev.push(EV_PENDING, OK, info.src)
            return
        self._pending = False
        self._got += 1
        if self._periodic_next == 1:
            self._periodic_next = -1
            self._periodic = True
            self.timing.set_periodic_defaults()
        if self._mode == _X_STOP and sid == F.SID_STOP_COMMUNICATION_PR:
            self._stopped = True
        if self._atp >= 0 and sid == F.SID_ACCESS_TIMING_PARAMETER_PR and info.data_len >= 2 \
                and buf[d + 1] == self._atp:
            if self._atp == T.TPI_SET_DEFAULTS:
                self.timing.set_defaults(self.timing.extended)
            else:
                self.timing.set_from_atp(self._atp_vals, 0, 5, T.TimingLimits())
            self._atp = -1
        self._ev.push(EV_RESPONSE, OK, info.src)

    def _key_bytes(self, kb1, kb2, src):
        self.kb1 = kb1
        self.kb2 = kb2
        self.keyword = keyword(kb1, kb2)
        self._len_byte = supports_length_byte(kb1)
        self.timing.set_defaults(extended_timing(kb1))
        self._ev.push(EV_KEY_BYTES, OK, src)

    def _window_over(self, now):
        # The P2 (or P2*) window after the latest message ran out.
        if self._pending:
            self._pending = False
            self._finish_failed(K_TIMEOUT_P2MAX)
            return
        if self._got > 0:
            if self._mode == _X_STOP and self._stopped:
                self._ended(now, OK, T.TIDLE_STOP_US)
                return
            if self._mode == _X_INIT:
                self.initialised = True
            self._end_periodic()        # repetitions stopped: periodic mode is over
            self._arm_p3max()
            self._ev.push(EV_DONE, OK, self._target)
            return
        r = self._err if self._err != OK else K_TIMEOUT_P2MAX
        if self._mode == _X_INIT:
            self._init_failed(now, r)
        elif self.tries <= self.cfg.retries:
            if self._err == OK:
                self._fault(r)
            self._transmit(now)
        else:
            self._finish_failed(r)

    def _finish_failed(self, r):
        self.state = _S_READY
        self._end_periodic()
        self._arm_p3max()
        self._ev.push(EV_FAILED, r, self._target)

    def _end_periodic(self):
        if self._periodic:
            self._periodic = False
            self._queued = False
            self.timing.set_defaults(extended_timing(self.kb1))

    def _init_failed(self, now, r):
        # Sections 6.1.1: wait P3min (W5 after a 5-baud attempt), then a new init.
        self._win_at = None
        self._idle_from = now
        self._tidle_us = T.W5_US if self._mode == _X_5B else self.timing.p3min_us
        if self.initialised:
            self.state = _S_READY       # the ECUs initialised before stay so
            self._arm_p3max()
        else:
            self.state = _S_OFF
            self._p3max_at = None
        self._ev.push(EV_FAILED, r, self._target)

    def _ended(self, now, result, tidle_us):
        self.state = _S_OFF
        self._periodic = False
        self._queued = False
        self._p3max_at = None
        self._win_at = None
        self._idle_from = self._bus_end if result == OK else now
        self._tidle_us = tidle_us
        self._len_byte = True
        self.initialised = False
        self.timing.set_defaults(False)
        self._ev.push(EV_STOPPED, result, self._target)

    # ---- 5-baud init ------------------------------------------------------------------
    def _5b_next(self, now):
        """Plan the next low pulse of the address, or wait for the sync byte."""
        p = self._5b
        if p.next():
            self.low_us = p.low_us
            self._line_next = LINE_LOW
            self._line_at = p.at
            return
        self._line_at = None
        self.state = _S_5B_RX
        self._5b_i = 0
        self._win_at = ticks_add(p.end(), T.W1_MAX_US + self._byte_us + 1)

    def _5b_byte(self, now, b, flags):
        i = self._5b_i
        if flags:
            self._init_failed(now, K_SYNC_ERROR)
            return
        if i == 0:
            if b != 0x55:
                self._init_failed(now, K_SYNC_ERROR)
                return
            self._win_at = ticks_add(now, T.W2_MAX_US + self._byte_us + 1)
        elif i == 1:
            self.kb1 = b
            self._win_at = ticks_add(now, T.W3_MAX_US + self._byte_us + 1)
        elif i == 2:
            self._win_at = None
            if not key_bytes_valid(self.kb1, b):
                self._init_failed(now, K_KEY_BYTES_ERROR)
                return
            self.kb2 = b
            self.tx.buf[0] = (~b) & 0xFF
            self.tx.start(1)
            self._tx_at = ticks_add(now, self.cfg.w4_tx_us)
            self.state = _S_TX
        else:
            self._win_at = None
            if b != (~self._5b_addr) & 0xFF:
                self._init_failed(now, K_SYNC_ERROR)
                return
            self._bus_end = now
            self.initialised = True
            self._key_bytes(self.kb1, self.kb2, self._5b_addr)
            self.state = _S_READY
            self._arm_p3max()
            self._ev.push(EV_DONE, OK, self._5b_addr)
        self._5b_i = i + 1
