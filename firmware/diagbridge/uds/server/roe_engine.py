# ResponseOnEvent engine (ISO 14229-1 §10.9): the events set up, the global
# start/stop state, event windows, the periodic scheduler that detects
# events, and the queue of event responses.  srv_roe.py parses requests and
# turns queued items into PDUs through the server; this module only decides.
#
# Rules implemented (§10.9.1 a-l, uds-digest §10.8):
#   a) set up and started in any session, no TesterPresent needed;
#   e) a DSC to any non-default session stops ROE; events started in the
#      default session restart on the return to default (state SUSPENDED);
#      events started in a non-default session stop for good;
#   f) start/stop/clear act on all events;
#   g) storageState (bit 6): stored events and their started state survive
#      a reset through the NVM (only with an infinite window, srv_roe checks);
#   i) a final response (numberOfIdentifiedEvents) only at the end of a
#      finite window, none when ROE is stopped earlier;
#   j) reportMostRecentDtcOnStatusChange queue overflow -> an intermediate
#      response with numberOfIdentifiedEvents 0xFF;
#   l) at most one event response per scheduler call; the rest wait in a
#      queue (dropped and counted when it is full); a response never
#      interrupts another (the server pops ours only when idle, §10.9.1 b).
# Changes are seen only at scheduler samples (§10.9.1, Fig 13).
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.uds.codec.dtc import TF, CDTC
from diagbridge.uds.codec.roe import (STORE, EWT_INFINITE, EWT_POWER, EWT_IGNITION,
                                      OP_GT, OP_LT, OP_EQ)

# States
S_STOPPED = const(0)
S_STARTED_DEF = const(1)    # started in the default session
S_STARTED_ND = const(2)     # started in a non-default session
S_SUSPENDED = const(3)      # started in default, now stopped by a non-default DSC
# Inputs
_I_START_DEF = const(0)     # startResponseOnEvent in the default session
_I_START_ND = const(1)      # ... in a non-default session
_I_STOP = const(2)
_I_CLEAR = const(3)
_I_NON_DEFAULT = const(4)   # DSC to a non-default session (even the same one)
_I_DEFAULT = const(5)       # back to the default session (DSC 01 or S3)
# Actions
_A_NONE = const(0)
_A_START = const(1)         # open the windows, take baselines
_A_STOP = const(2)          # close windows, drop queued responses
_A_CLEAR = const(3)         # _A_STOP and forget every event

_NEXT = (
    # S_STOPPED
    ((S_STARTED_DEF, _A_START), (S_STARTED_ND, _A_START), (S_STOPPED, _A_NONE),
     (S_STOPPED, _A_CLEAR), (S_STOPPED, _A_NONE), (S_STOPPED, _A_NONE)),
    # S_STARTED_DEF (START_ND impossible: the session is default)
    ((S_STARTED_DEF, _A_START), None, (S_STOPPED, _A_STOP),
     (S_STOPPED, _A_CLEAR), (S_SUSPENDED, _A_STOP), (S_STARTED_DEF, _A_NONE)),
    # S_STARTED_ND (START_DEF impossible)
    (None, (S_STARTED_ND, _A_START), (S_STOPPED, _A_STOP),
     (S_STOPPED, _A_CLEAR), (S_STOPPED, _A_STOP), (S_STOPPED, _A_STOP)),
    # S_SUSPENDED
    (None, (S_STARTED_ND, _A_START), (S_STOPPED, _A_NONE),
     (S_STOPPED, _A_CLEAR), (S_SUSPENDED, _A_NONE), (S_STARTED_DEF, _A_START)),
)

# Queued response kinds
K_EVENT = const(1)          # the event's service response (dtc = DTC index or 0xFF)
K_FINAL = const(2)          # end of a finite window: C6 ... numberOfIdentifiedEvents
K_OVERFLOW = const(3)       # 08 queue overflow: C6 08 FF ...

_NO_DTC = const(0xFF)


class Event:
    def __init__(self, cfg):
        self.used = False
        self.et = 0                 # eventType with the storageState bit
        self.window = 0
        self.rec = bytearray(10)
        self.rec_len = 0
        self.svc = bytearray(cfg.max_service_len)
        self.svc_len = 0
        self.identified = 0
        self.active = False
        self.end_at = None
        self.last = bytearray(cfg.max_did_len)
        self.last_len = -1          # -1: take a baseline at the next sample
        self.armed = True           # onComparisonOfValues hysteresis
        self.overflow = False


class Roe:
    def __init__(self, cfg, mem=None, avail=0xFF, read_did=None):
        self.cfg = cfg
        self.state = S_STOPPED
        self.mem = mem              # dtc.DtcMemory watched by 01/08/09, or None
        self.avail = avail
        self.read_did = read_did    # fn(did, out) -> length or -1 (03/07 samples)
        self.events = [Event(cfg) for _ in range(cfg.max_events)]
        self._last = bytearray(len(mem.dtcs) if mem is not None else 0)
        self._sample = bytearray(cfg.max_did_len)
        self.req = bytearray(8 + cfg.max_service_len)     # internal request (srv_roe)
        self.now = 0                # the last on_timer tick (pop has no `now`)
        self._q_kind = bytearray(cfg.queue)
        self._q_ev = bytearray(cfg.queue)
        self._q_dtc = bytearray(cfg.queue)
        self._q_head = 0
        self._q_count = 0
        self.dropped = 0
        self._sched_us = cfg.scheduler_ms * 1000
        self._tick_at = None
        # The item released for pop (one per scheduler call, rule l).
        self.ready_kind = 0
        self.ready_ev = 0
        self.ready_dtc = 0

    # ---- state machine -------------------------------------------------------------
    def _step(self, now, inp):
        t = _NEXT[self.state][inp]
        if t is None:
            return
        self.state = t[0]
        a = t[1]
        if a == _A_START:
            self._open(now)
        elif a == _A_STOP or a == _A_CLEAR:
            for e in self.events:
                e.active = False
                e.end_at = None
                if a == _A_CLEAR:
                    e.used = False
            self._q_count = 0
            self.ready_kind = 0
            self._tick_at = None

    def start(self, now, default_session):
        self._step(now, _I_START_DEF if default_session else _I_START_ND)

    def stop(self, now):
        self._step(now, _I_STOP)

    def clear(self, now):
        self._step(now, _I_CLEAR)

    def session_changed(self, now, old, new):
        if new != 0x01:
            self._step(now, _I_NON_DEFAULT)
        elif old != 0x01:
            self._step(now, _I_DEFAULT)

    def started(self):
        return self.state == S_STARTED_DEF or self.state == S_STARTED_ND

    def _open(self, now):
        for e in self.events:
            if e.used:
                self._activate(now, e)
        self._baseline()
        self._tick_at = ticks_add(now, self._sched_us)

    def _activate(self, now, e):
        e.active = True
        e.identified = 0
        e.last_len = -1
        e.armed = True
        e.overflow = False
        w = e.window
        if w == EWT_INFINITE or w == EWT_POWER or w == EWT_IGNITION:
            e.end_at = None         # power/ignition windows end with the reset
        else:
            e.end_at = ticks_add(now, self.cfg.windows_ms[w] * 1000)

    def _baseline(self):
        mem = self.mem
        if mem is not None:
            for i in range(len(mem.dtcs)):
                self._last[i] = mem.dtcs[i].status & self.avail

    # ---- events ---------------------------------------------------------------
    def add(self, now, et, window, rec, rec_len, svc, svc_len):
        """Set up (or replace: same type and record) an event; its index, or
        -1 if every slot is taken."""
        slot = -1
        for i in range(len(self.events)):
            e = self.events[i]
            if e.used and (e.et & 0x3F) == (et & 0x3F) and e.rec_len == rec_len:
                same = True
                for j in range(rec_len):
                    same = same and e.rec[j] == rec[j]
                if same:
                    slot = i
                    break
            if slot < 0 and not e.used:
                slot = i
        if slot < 0:
            return -1
        e = self.events[slot]
        e.used = True
        e.et = et
        e.window = window
        for i in range(rec_len):
            e.rec[i] = rec[i]
        e.rec_len = rec_len
        for i in range(svc_len):
            e.svc[i] = svc[i]
        e.svc_len = svc_len
        e.active = False
        if self.started():          # sampled from the next scheduler call (§10.9.1)
            self._activate(now, e)
            self._baseline()
        return slot

    def count_active(self):
        k = 0
        for e in self.events:
            if e.active:
                k += 1
        return k

    # ---- time ---------------------------------------------------------------
    def deadline(self):
        if not self.started():
            return None
        d = self._tick_at
        for e in self.events:
            if e.active:
                d = earliest(d, e.end_at)
        return d

    def on_timer(self, now):
        """Windows and the scheduler; True when an item became ready to pop."""
        if not self.started():
            return False
        for i in range(len(self.events)):
            e = self.events[i]
            if e.active and due(now, e.end_at):
                e.active = False
                e.end_at = None
                self._push(K_FINAL, i, _NO_DTC)
        if not due(now, self._tick_at):
            return False
        self._tick_at = ticks_add(now, self._sched_us)
        self._scan_dtcs()
        self._scan_dids()
        if self.ready_kind or not self._q_count:
            return False
        h = self._q_head
        self.ready_kind = self._q_kind[h]
        self.ready_ev = self._q_ev[h]
        self.ready_dtc = self._q_dtc[h]
        self._q_head = h + 1 if h + 1 < len(self._q_kind) else 0
        self._q_count -= 1
        return True

    def take_ready(self):
        k = self.ready_kind
        self.ready_kind = 0
        return k

    def _push(self, kind, ev, dtc):
        e = self.events[ev]
        if kind == K_EVENT and e.identified < 0xFE:
            e.identified += 1
        if self._q_count == len(self._q_kind):
            self.dropped += 1
            if kind == K_EVENT and e.et & 0x3F == 0x08:
                e.overflow = True
                self._drop_event_items(ev)
                self._push(K_OVERFLOW, ev, _NO_DTC)
            return
        i = self._q_head + self._q_count
        if i >= len(self._q_kind):
            i -= len(self._q_kind)
        self._q_kind[i] = kind
        self._q_ev[i] = ev
        self._q_dtc[i] = dtc
        self._q_count += 1

    def _drop_event_items(self, ev):
        # Keep the other events' items, in order (the client resyncs with 19 02).
        size = len(self._q_kind)
        k = 0
        for j in range(self._q_count):
            i = (self._q_head + j) % size
            if self._q_ev[i] != ev:
                d = (self._q_head + k) % size
                self._q_kind[d] = self._q_kind[i]
                self._q_ev[d] = self._q_ev[i]
                self._q_dtc[d] = self._q_dtc[i]
                k += 1
        self._q_count = k

    def _scan_dtcs(self):
        mem = self.mem
        if mem is None:
            return
        for i in range(len(mem.dtcs)):
            new = mem.dtcs[i].status & self.avail
            old = self._last[i]
            if new == old:
                continue
            self._last[i] = new
            for k in range(len(self.events)):
                e = self.events[k]
                if not e.active:
                    continue
                t = e.et & 0x3F
                if t == 0x01 or t == 0x09:
                    m = e.rec[0]
                    if (old ^ new) & m and new & m:
                        self._push(K_EVENT, k, i)
                elif t == 0x08:
                    bit = TF if e.rec[0] == 0x0D else CDTC
                    if new & bit and not old & bit:
                        self._push(K_EVENT, k, i)

    def _scan_dids(self):
        rd = self.read_did
        if rd is None:
            return
        s = self._sample
        for k in range(len(self.events)):
            e = self.events[k]
            t = e.et & 0x3F
            if not e.active or (t != 0x03 and t != 0x07):
                continue
            n = rd((e.rec[0] << 8) | e.rec[1], s)
            if n < 0:
                continue
            if t == 0x03:
                changed = e.last_len >= 0 and n != e.last_len
                for j in range(n):
                    if e.last[j] != s[j]:
                        changed = e.last_len >= 0
                        e.last[j] = s[j]
                e.last_len = n
                if changed:
                    self._push(K_EVENT, k, _NO_DTC)
            elif self._compare(e, s, n):
                self._push(K_EVENT, k, _NO_DTC)

    def _compare(self, e, s, n):
        # eventTypeRecord: DID(2) operator(1) value(4) hysteresis(1) localisation(2)
        r = e.rec
        loc = (r[8] << 8) | r[9]
        signed = loc & 0x8000
        bits = ((loc >> 10) & 0x1F) + 1
        off = loc & 0x3FF
        if off + bits > n * 8:
            return False
        mv = 0
        for b in range(off, off + bits):
            mv = (mv << 1) | ((s[b >> 3] >> (7 - (b & 7))) & 1)
        cp = (r[3] << 24) | (r[4] << 16) | (r[5] << 8) | r[6]
        if signed:
            if mv >> (bits - 1):
                mv -= 1 << bits
            if cp >> 31:
                cp -= 1 << 32
        op = r[2]
        hy = r[7]
        if op == OP_GT or op == OP_LT:
            # hysteresis: a % of CP, absolute when CP is 0 (§10.9.5.4)
            d100 = hy * 100 if cp == 0 else (cp if cp > 0 else -cp) * hy
            if op == OP_GT:
                hit = mv > cp
                rearm = mv * 100 < cp * 100 - d100
            else:
                hit = mv < cp
                rearm = mv * 100 > cp * 100 + d100
        else:
            hit = (mv == cp) if op == OP_EQ else (mv != cp)
            rearm = not hit
        if e.armed and hit:
            e.armed = False
            return True
        if rearm:
            e.armed = True
        return False

    # ---- persistence (storageState, §10.9.1 g) -------------------------------------
    def dump(self):
        b = bytearray((1, 1 if self.state == S_STARTED_DEF else 0))
        for e in self.events:
            if e.used and e.et & STORE:
                b += bytes((e.et, e.window, e.rec_len, e.svc_len))
                b += e.rec[:e.rec_len]
                b += e.svc[:e.svc_len]
        return bytes(b)

    def load(self, now, b):
        """Restore stored events (a reset or power-up); started again if they were."""
        if b is None or len(b) < 2 or b[0] != 1:
            return
        p = 2
        while p + 4 <= len(b):
            et, w, rl, sl = b[p], b[p + 1], b[p + 2], b[p + 3]
            p += 4
            if p + rl + sl > len(b) or rl > 10 or sl > self.cfg.max_service_len:
                return
            self.add(now, et, w, b[p:p + rl], rl, b[p + rl:p + rl + sl], sl)
            p += rl + sl
        if b[1]:
            self.start(now, True)
