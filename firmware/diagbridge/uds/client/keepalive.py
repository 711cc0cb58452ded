# TesterPresent keep-alive (ISO 14229-1 §10.7, S3 server timer): the tester
# side, and the smallest complete example of the core's machine contract.
#
# While armed, the machine asks for a TesterPresent request whenever the
# tester has been quiet for `period_ms`, so the server's S3 timer never
# expires.  Any other request the tester sends restarts the period (REQ_TOUCH).
# With suppress_pos_rsp (the usual choice) it sends 3E 80 and expects nothing;
# without it, it sends 3E 00 and expects 7E 00 within P2_client.
#
#   request(now, REQ_START | REQ_STOP | REQ_TOUCH)   application inputs
#   on_timer(now)                                    time inputs
#   feed_pdu(now, data, n)                           response PDUs (3E 00 only)
#   poll() -> EV_*;  pop_pdu(out) -> n;  deadline() -> tick | None
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.codes import OK, A_TIMEOUT_P2, A_NEGATIVE_RESPONSE, A_UNEXPECTED_RESPONSE
from diagbridge.errors import ConfigError, UsageError
from diagbridge.evq import EventQueue

REQ_START = const(1)
REQ_STOP = const(2)
REQ_TOUCH = const(3)

EV_SEND = const(1)          # a TesterPresent PDU is ready: pop_pdu()
EV_CONFIRMED = const(2)     # 7E 00 arrived in time
EV_FAILED = const(3)        # no or wrong answer: see `result` (and `nrc`)

_SID_TP = const(0x3E)
_SID_TP_RSP = const(0x7E)
_SID_NR = const(0x7F)

# States
_S_IDLE = const(0)          # not keeping the session alive
_S_ARMED = const(1)         # waiting for the next period to run out
_S_WAIT_RSP = const(2)      # 3E 00 sent, waiting for 7E 00 (no suppression)
# Inputs
_I_START = const(0)
_I_STOP = const(1)
_I_TOUCH = const(2)
_I_PERIOD = const(3)        # the keep-alive period ran out
_I_RSP = const(4)           # a response PDU arrived
_I_P2 = const(5)            # P2_client ran out
# Actions
_A_NONE = const(0)
_A_ARM = const(1)           # restart the period
_A_SEND = const(2)          # queue 3E xx, then re-arm (or wait for the answer)
_A_CHECK = const(3)         # check the response, report, re-arm
_A_FAIL = const(4)          # report A_TIMEOUT_P2, re-arm
_A_DISARM = const(5)        # cancel all timers

# _NEXT[state][input] = (next state, action); the period timer and P2 timer
# are only set in states that expect them, so on_timer never feeds an input
# a state cannot take.  None = the input is ignored in that state.
_NEXT = (
    # _S_IDLE
    ((_S_ARMED, _A_ARM), (_S_IDLE, _A_NONE), None, None, None, None),
    # _S_ARMED
    ((_S_ARMED, _A_ARM), (_S_IDLE, _A_DISARM), (_S_ARMED, _A_ARM),
     (_S_ARMED, _A_SEND), None, None),
    # _S_WAIT_RSP: a TOUCH here is another request of the tester's own; the
    # answer to the TesterPresent is still awaited.
    ((_S_ARMED, _A_ARM), (_S_IDLE, _A_DISARM), None, None,
     (_S_ARMED, _A_CHECK), (_S_ARMED, _A_FAIL)),
)


class KeepAliveConfig:
    def __init__(self, period_ms=2000, suppress_pos_rsp=True, p2_client_ms=150):
        # S3_server is 5000 ms; ISO 14229-2 advises the tester to send
        # TesterPresent every 2000 ms, well inside it.
        if not 1 <= period_ms <= 60000:
            raise ConfigError("period_ms")
        if not 1 <= p2_client_ms <= 60000:
            raise ConfigError("p2_client_ms")
        self.period_ms = period_ms
        self.suppress_pos_rsp = bool(suppress_pos_rsp)
        self.p2_client_ms = p2_client_ms


class KeepAlive:
    def __init__(self, cfg=None, trace=None):
        if cfg is None:
            cfg = KeepAliveConfig()
        self._period_us = cfg.period_ms * 1000
        self._p2_us = cfg.p2_client_ms * 1000
        self._sub = 0x80 if cfg.suppress_pos_rsp else 0x00
        self.trace = trace
        self.state = _S_IDLE
        self.result = OK
        self.nrc = 0
        self.sent = 0           # TesterPresent requests handed out
        self._period_at = None
        self._p2_at = None
        self._pending = False   # a PDU waits for pop_pdu()
        self._rsp = None        # the response being checked (valid in _step only)
        self._rsp_n = 0
        self._events = EventQueue(4)

    # ---- inputs -------------------------------------------------------------
    def request(self, now, req):
        if req == REQ_START:
            self._step(now, _I_START)
        elif req == REQ_STOP:
            self._step(now, _I_STOP)
        elif req == REQ_TOUCH:
            self._step(now, _I_TOUCH)
        else:
            raise UsageError("unknown keep-alive request")

    def on_timer(self, now):
        if due(now, self._p2_at):
            self._step(now, _I_P2)
        if due(now, self._period_at):
            self._step(now, _I_PERIOD)

    def feed_pdu(self, now, data, n):
        """A response PDU from the server (only 7E/7F 3E matter)."""
        self._rsp = data
        self._rsp_n = n
        self._step(now, _I_RSP)
        self._rsp = None

    # ---- outputs ------------------------------------------------------------
    def poll(self):
        return self._events.pop()

    def pop_pdu(self, out):
        """Write the pending TesterPresent request into out; its length or 0."""
        if not self._pending:
            return 0
        if len(out) < 2:
            raise UsageError("buffer too small")
        out[0] = _SID_TP
        out[1] = self._sub
        self._pending = False
        return 2

    def deadline(self):
        return earliest(self._period_at, self._p2_at)

    # ---- the machine --------------------------------------------------------
    def _step(self, now, inp):
        cell = _NEXT[self.state][inp]
        if cell is None:
            return
        self.state, action = cell
        if self.trace is not None:
            self.trace(inp, self.state, action)
        if action == _A_ARM:
            self._p2_at = None
            self._period_at = ticks_add(now, self._period_us)
        elif action == _A_SEND:
            self._pending = True
            self.sent += 1
            self._events.push(EV_SEND)
            if self._sub == 0x80:
                self._period_at = ticks_add(now, self._period_us)
            else:
                self.state = _S_WAIT_RSP
                self._period_at = None
                self._p2_at = ticks_add(now, self._p2_us)
        elif action == _A_CHECK:
            self._check(self._rsp, self._rsp_n)
            self._p2_at = None
            self._period_at = ticks_add(now, self._period_us)
        elif action == _A_FAIL:
            self._report(A_TIMEOUT_P2, 0)
            self._p2_at = None
            self._period_at = ticks_add(now, self._period_us)
        elif action == _A_DISARM:
            self._period_at = None
            self._p2_at = None
            self._pending = False

    def _check(self, d, n):
        if n == 2 and d[0] == _SID_TP_RSP and d[1] == 0x00:
            self.result = OK
            self.nrc = 0
            self._events.push(EV_CONFIRMED)
        elif n == 3 and d[0] == _SID_NR and d[1] == _SID_TP:
            self._report(A_NEGATIVE_RESPONSE, d[2])
        else:
            self._report(A_UNEXPECTED_RESPONSE, 0)

    def _report(self, result, nrc):
        self.result = result
        self.nrc = nrc
        self._events.push(EV_FAILED)
