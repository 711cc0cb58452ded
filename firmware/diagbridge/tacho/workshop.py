# The workshop tester's calibration of a tachograph VU (EU Annex IB / IC
# App. 8; tacho-digest 7) as a core machine over a KwpClient, with the K-Line
# verbs of the client (feed_byte, feed_line, on_timer, poll, pop_byte,
# pop_line, low_us, deadline) so the simulated wire or a K-Line adapter
# carries it unchanged:
#
#   w = Workshop(KwpClient(TesterConfig(address=0xF0), keepalive_ms=0), "1234",
#                {rdi.KF: 8000, rdi.SA: 90}, annex="1C", time_adjust=False)
#   w.begin(now)          fast init to 0xEE, then by itself:
#     10 85; 27 7D (seed 0000: already CALIBRATION); 27 7E PIN (7F 27 78 are
#     awaited up to five minutes in all, CPR_037); 22 every RDI of the annex;
#     2E each new value (encoded and range-checked here, before anything is
#     sent: UsageError); 22 each written RDI again, compared byte for byte;
#     [31 01 01 00, then 31 03 01 00 every poll_ms until routineInfo 61];
#     10 81; 82.
#   ... EV_REPORT (finished; report["result"] "ok" or the failed step)
#   w.report              the calibration report (a dict), render(report) its text
# A refused read is reported (its response code) and the calibration goes on;
# a refused session, PIN, write or a link failure ends it (communication is
# stopped when the link is still up).
from diagbridge._compat import const
from diagbridge.clock import ticks_add, ticks_diff, due, earliest
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE
from diagbridge.errors import UsageError
from diagbridge.kwp import client as C
from diagbridge.kwp.nrc import rc_name
from diagbridge.tacho import rdi as R

EV_REPORT = const(1)

VU_ADDRESS = 0xEE
PIN_CAP_US = 300000000          # CPR_037: the final answer within five minutes

_S_IDLE = const(0)
_S_INIT = const(1)
_S_SDS = const(2)
_S_SEED = const(3)
_S_KEY = const(4)
_S_READ = const(5)
_S_WRITE = const(6)
_S_VERIFY = const(7)
_S_TA_START = const(8)
_S_TA_POLL = const(9)
_S_TA_WAIT = const(10)
_S_SD = const(11)
_S_STOP = const(12)
_S_DONE = const(13)

_STEP = {_S_INIT: "init", _S_SDS: "session", _S_SEED: "seed", _S_KEY: "pin",
         _S_READ: "read", _S_WRITE: "write", _S_VERIFY: "verify",
         _S_TA_START: "time_adjustment", _S_TA_POLL: "time_adjustment",
         _S_SD: "session", _S_STOP: "stop"}


class Workshop:
    def __init__(self, client, pin, writes=None, annex="1C", time_adjust=False,
                 poll_ms=500, max_polls=40, target=VU_ADDRESS):
        if annex not in ("1B", "1C"):
            raise UsageError("annex must be '1B' or '1C'")
        if isinstance(pin, str):
            pin = pin.encode()
        if not isinstance(pin, (bytes, bytearray)) or not 4 <= len(pin) <= 8:
            raise UsageError("the PIN has 4 to 8 characters")
        for c in pin:
            if not 0x20 <= c <= 0x7E:
                raise UsageError("the PIN is ASCII")
        if time_adjust and annex != "1C":
            raise UsageError("TimeAdjustment is Annex IC only")
        self.c = client
        self.pin = bytes(pin)
        self.annex = annex
        self.ids = R.ids(annex)
        self.writes = []                # (rdi, bytes), in Table 28's order
        w = writes or {}
        for rdi in w:
            d = R.get(rdi)
            if d.access(annex) != "rw":
                raise UsageError("%s (0x%04X) is not writable in Annex %s" % (d.name, rdi, annex))
        for rdi in R.ORDER:
            if rdi in w:
                self.writes.append((rdi, R.encode(rdi, w[rdi])))
        self.time_adjust = bool(time_adjust)
        self.poll_us = poll_ms * 1000
        self.max_polls = max_polls
        self.target = target
        self.state = _S_IDLE
        self.report = None
        self.result = OK
        self.peer = 0
        self._i = 0
        self._now = 0
        self._wait_at = None
        self._pin_us = 0
        self._pin_from = 0
        self._polls = 0
        self._ev = 0
        self._req = bytearray(64)

    # ---- control ---------------------------------------------------------------
    def begin(self, now):
        if self.state != _S_IDLE and self.state != _S_DONE:
            raise UsageError("a calibration is running")
        self.report = {"vu": self.target, "annex": self.annex, "result": "running",
                       "error": None, "before": {}, "read_errors": {}, "written": {},
                       "verified": {}, "time_adjustment": None, "pin_pending": 0}
        self._now = now
        self.state = _S_INIT
        self.c.start(now, self.target)

    def done(self):
        return self.state == _S_DONE

    # ---- the K-Line verbs (the client's) ----------------------------------------------
    def feed_byte(self, now, b, flags):
        self._now = now
        self.c.feed_byte(now, b, flags)

    def feed_line(self, now, level):
        self._now = now
        self.c.feed_line(now, level)

    def on_timer(self, now):
        self._now = now
        self.c.on_timer(now)
        if self._wait_at is not None and due(now, self._wait_at):
            self._wait_at = None
            self._send(now, b"\x31\x03\x01\x00")
            self.state = _S_TA_POLL

    def poll(self):
        ev = self.c.poll()
        while ev:
            self._step(self._now, ev)
            ev = self.c.poll()
        ev = self._ev
        self._ev = 0
        return ev

    def pop_byte(self, now):
        return self.c.pop_byte(now)

    def pop_line(self, now):
        return self.c.pop_line(now)

    @property
    def low_us(self):
        return self.c.low_us

    def deadline(self):
        return earliest(self.c.deadline(), self._wait_at)

    # ---- the workflow -------------------------------------------------------------------
    def _send(self, now, data):
        n = len(data)
        for i in range(n):
            self._req[i] = data[i]
        self.c.request(now, self._req, n)

    def _read(self, now, rdi):
        self._send(now, bytes((0x22, rdi >> 8, rdi & 0xFF)))

    def _fail(self, now, why):
        rep = self.report
        rep["result"] = "failed"
        rep["error"] = why
        if self.c.ready():
            self.c.stop(now)
            self.state = _S_STOP
        else:
            self._finish()

    def _finish(self):
        if self.report["result"] == "running":
            ok = True
            for k in self.report["verified"]:
                ok = ok and self.report["verified"][k]
            self.report["result"] = "ok" if ok else "failed"
            if not ok:
                self.report["error"] = "verify"
        self.state = _S_DONE
        self._ev = EV_REPORT

    def _refused(self, step):
        c = self.c
        if c.result == A_NEGATIVE_RESPONSE:
            return "%s refused: 0x%02X %s" % (step, c.nrc, rc_name(c.nrc))
        return "%s failed: result %d" % (step, c.result)

    def _rsp(self):
        c = self.c
        return c.response, c.length

    def _step(self, now, ev):
        c = self.c
        st = self.state
        if ev == C.EV_PENDING:
            if st == _S_KEY:
                self.report["pin_pending"] += 1
                self._pin_us += ticks_diff(now, self._pin_from)
                self._pin_from = now
                if self._pin_us >= PIN_CAP_US:
                    self.report["result"] = "failed"
                    self.report["error"] = "pin: no answer within five minutes"
                    self._finish()
            return
        if ev == C.EV_STOPPED:
            if st != _S_DONE:
                if st != _S_STOP and self.report["result"] == "running":
                    self.report["result"] = "failed"
                    self.report["error"] = "communication ended"
                self._finish()
            return
        if ev == C.EV_FAILED:
            if st != _S_DONE:
                self.report["result"] = "failed"
                self.report["error"] = self._refused(_STEP.get(st, "link"))
                self._finish()
            return
        if st == _S_INIT:
            if ev == C.EV_READY:
                self.state = _S_SDS
                self._send(now, b"\x10\x85")
            return
        if ev != C.EV_DONE:
            return
        rsp, n = self._rsp()
        ok = c.result == OK
        if st == _S_SDS:
            if not (ok and n == 2 and rsp[1] == 0x85):
                return self._fail(now, self._refused("session 0x85"))
            self.state = _S_SEED
            self._send(now, b"\x27\x7d")
        elif st == _S_SEED:
            if not (ok and n == 4):
                return self._fail(now, self._refused("seed"))
            if rsp[2] == 0 and rsp[3] == 0:
                self.report["pin_pending"] = 0      # already in CALIBRATION mode
                return self._reads(now)
            self.state = _S_KEY
            self._pin_us = 0
            self._pin_from = now
            self._send(now, b"\x27\x7e" + self.pin)
        elif st == _S_KEY:
            if not (ok and n == 2):
                return self._fail(now, self._refused("pin"))
            self._reads(now)
        elif st == _S_READ:
            rdi = self.ids[self._i]
            name = R.get(rdi).name
            if ok and n == 3 + R.get(rdi).length:
                self.report["before"][name] = R.decode(rdi, bytes(rsp[3:n]))
            else:
                self.report["read_errors"][name] = self._refused("read")
            self._i += 1
            if self._i < len(self.ids):
                return self._read(now, self.ids[self._i])
            self._i = 0
            self._next_write(now)
        elif st == _S_WRITE:
            rdi, data = self.writes[self._i]
            if not (ok and n == 3):
                return self._fail(now, self._refused("write %s" % R.get(rdi).name))
            self.report["written"][R.get(rdi).name] = R.decode(rdi, data)
            self._i += 1
            self._next_write(now)
        elif st == _S_VERIFY:
            rdi, data = self.writes[self._i]
            self.report["verified"][R.get(rdi).name] = ok and bytes(rsp[3:n]) == data
            self._i += 1
            if self._i < len(self.writes):
                return self._read(now, self.writes[self._i][0])
            self._after_verify(now)
        elif st == _S_TA_START:
            if not ok:
                self.report["time_adjustment"] = self._refused("start")
                return self._end(now)
            self._polls = 0
            self._wait(now)
        elif st == _S_TA_POLL:
            if not (ok and n == 6):
                self.report["time_adjustment"] = self._refused("results")
                return self._end(now)
            if rsp[4] == 0x78:
                self._polls += 1
                if self._polls >= self.max_polls:
                    self.report["time_adjustment"] = "not finished"
                    return self._end(now)
                return self._wait(now)
            self.report["time_adjustment"] = "finished" if rsp[5] == 0x01 else \
                ("no GNSS signal" if rsp[5] == 0x10 else "status 0x%02X" % rsp[5])
            self._end(now)
        elif st == _S_SD:
            self.state = _S_STOP
            self.c.stop(now)
        elif st == _S_STOP:
            self._finish()

    def _reads(self, now):
        self.state = _S_READ
        self._i = 0
        self._read(now, self.ids[0])

    def _next_write(self, now):
        if self._i < len(self.writes):
            self.state = _S_WRITE
            rdi, data = self.writes[self._i]
            self._send(now, bytes((0x2E, rdi >> 8, rdi & 0xFF)) + data)
            return
        self._i = 0
        if self.writes:
            self.state = _S_VERIFY
            return self._read(now, self.writes[0][0])
        self._after_verify(now)

    def _after_verify(self, now):
        if self.time_adjust:
            self.state = _S_TA_START
            return self._send(now, b"\x31\x01\x01\x00")
        self._end(now)

    def _wait(self, now):
        self.state = _S_TA_WAIT
        self._wait_at = ticks_add(now, self.poll_us)

    def _end(self, now):
        self.state = _S_SD
        self._send(now, b"\x10\x81")


def _fmt(v):
    if isinstance(v, tuple):
        if len(v) == 8:
            return "%04d-%02d-%02d %02d:%02d:%02d UTC (local %+d h %+d min)" % (
                v[0], v[1], v[2], v[3], v[4], v[5], v[7], v[6])
        if len(v) == 3:
            return "%04d-%02d-%02d" % v
        return "code page %d, %r" % v
    if isinstance(v, (bytes, bytearray)):
        return " ".join("%02X" % b for b in v)
    if isinstance(v, str):
        return repr(v)
    return str(v)


def _unit(name):
    for d in R.RDIS.values():
        if d.name == name:
            return (" " + d.unit) if d.unit else ""
    return ""


def render(report):
    """The calibration report as text, one line per record."""
    lines = ["Tachograph calibration, VU 0x%02X, Annex I%s: %s" % (
        report["vu"], report["annex"][1:], report["result"])]
    if report["error"]:
        lines.append("  error: " + report["error"])
    lines.append("  PIN: %d response-pending answers" % report["pin_pending"])
    lines.append("  records before:")
    for k in report["before"]:
        lines.append("    %-40s %s%s" % (k, _fmt(report["before"][k]), _unit(k)))
    for k in report["read_errors"]:
        lines.append("    %-40s %s" % (k, report["read_errors"][k]))
    lines.append("  written:")
    for k in report["written"]:
        ver = report["verified"].get(k)
        lines.append("    %-40s %s%s  %s" % (k, _fmt(report["written"][k]), _unit(k),
                                          "verified" if ver else "NOT verified"))
    if report["time_adjustment"] is not None:
        lines.append("  time adjustment: " + report["time_adjustment"])
    return "\n".join(lines)
