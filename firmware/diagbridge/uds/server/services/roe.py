# Server side of ResponseOnEvent (0x86), ISO 14229-1 §10.9, on the engine of
# roe.py.  The server has run the general checks (§8.7) from SPECS: length
# >= 2, eventType supported (0x12, bits 6-0: the storageState variants are
# listed too), exact length of the control types (0x13).  Here, in order:
# length of the eventTypeRecord and serviceToRespondToRecord (13), then the
# data (31): eventWindowTime, storageState only with an infinite window
# (§10.9.1 g), DID (no DDDI F200-F3FF, §10.9.2.2.5), 0x19 sub-function of
# 08 (0D/0E) / 09 (04/06/18/19), serviceToRespondTo served by this server
# (§10.9.1: invalid -> 31), free event slot; start without events -> 24.
#
# Event responses leave through pop_unsolicited, one per scheduler call,
# only when the server is idle (it pops services only then): the service-
# ToRespondTo is executed through the server's own checks and handlers with
# SPRMIB = 0 (§10.9.1 h); 08 answers as 19 0D/0E with the DTC that changed
# (§10.9.2.2.3); 09 executes 19 <sf> with the changed DTC (§10.9.2.2.4).
# The engine lives at srv.roe_engine.
from diagbridge._compat import const
from diagbridge.uds.server.service import ServiceSpec, SubFunction, RSP_PENDING, RSP_NONE
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_RSE, NRC_GPF
from diagbridge.uds.codec.roe import (SID_ROE, STORE, EWT_INFINITE, EWT_POWER, EWT_IGNITION,
                                      ET_STOP, ET_REPORT_ACTIVATED, ET_START, ET_CLEAR,
                                      record_length)
from diagbridge.uds.codec.dtc import put_dtc_status
from diagbridge.errors import ConfigError
from diagbridge.uds.server.roe_engine import Roe, K_FINAL, K_OVERFLOW
from diagbridge.uds.server.services.dtc import store_of
from diagbridge.uds.server.services.data import read_did as _read_did

_RSID = const(0xC6)
_NVM_KEY = "roe"
# Services whose second byte is a sub-function (SPRMIB cleared when executed).
_SF_SIDS = b"\x10\x11\x19\x27\x28\x29\x2C\x31\x3E\x85\x87"


def _int(raw, k, default, lo, hi):
    v = raw.get(k, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("roe." + k)
    return v


class RoeConfig:
    """The profile's optional "roe" section.  Windows are VM-specific
    (B.2); 0x08 defaults to the source example's 80 s (§10.9.5.1)."""

    def __init__(self, raw=None):
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError("roe")
        self.max_events = _int(raw, "max_events", 4, 1, 16)
        self.scheduler_ms = _int(raw, "scheduler_ms", 50, 1, 10000)   # ResponseOnEventSchedulerRate
        self.queue = _int(raw, "queue", 8, 1, 64)      # MaxNumberOfStoredDTCStatusChangedEvents
        self.max_service_len = _int(raw, "max_service_len", 16, 2, 64)
        self.max_did_len = _int(raw, "max_did_len", 32, 1, 255)
        w = raw.get("windows_ms", {3: 10000, 4: 60000, 5: 200000, 8: 80000})
        if not isinstance(w, dict):
            raise ConfigError("roe.windows_ms")
        self.windows_ms = {}
        for k in w:
            if not isinstance(k, int) or not 0x03 <= k <= 0xFF or k in (6, 7) or \
                    not isinstance(w[k], int) or not 1 <= w[k] <= 200000:
                raise ConfigError("roe.windows_ms")   # 200 s: well inside the tick half-period
            self.windows_ms[k] = w[k]


def _did_reader(srv):
    def rd(did, out):
        d = srv.profile.dids.get(did)
        if d is None or d.length > len(out):
            return -1
        _read_did(srv, d, out, 0)
        return d.length
    return rd


def engine_of(srv):
    eng = getattr(srv, "roe_engine", None)
    if eng is None:
        st = store_of(srv)
        raw = getattr(srv.profile, "raw", None) or {}
        eng = Roe(RoeConfig(raw.get("roe")), st.primary, st.cfg.avail, _did_reader(srv))
        srv.roe_engine = eng
    return eng


def _save(srv, eng):
    nvm = getattr(srv, "nvm", None)
    if nvm is None:
        return 0
    try:
        nvm.put(_NVM_KEY, eng.dump())
    except OSError:
        return NRC_GPF
    return 0


def _window_ok(eng, w):
    return w == EWT_INFINITE or w == EWT_POWER or w == EWT_IGNITION or w in eng.cfg.windows_ms


def _put_event(rsp, p, e):
    # eventType eventWindowTime eventTypeRecord serviceToRespondToRecord
    if p + 2 + e.rec_len + e.svc_len > len(rsp):
        return -1
    rsp[p] = e.et
    rsp[p + 1] = e.window
    p += 2
    for i in range(e.rec_len):
        rsp[p + i] = e.rec[i]
    p += e.rec_len
    for i in range(e.svc_len):
        rsp[p + i] = e.svc[i]
    return p + e.svc_len


def handle(srv, now, req, n, functional):
    et = req[1] & 0x7F                  # eventType with storageState
    t = et & 0x3F
    eng = engine_of(srv)
    rsp = srv.rsp
    if n < 3:
        return -NRC_IMLOIF
    win = req[2]
    rsp[0] = _RSID
    rsp[1] = et
    if t == ET_STOP or t == ET_START or t == ET_CLEAR or t == ET_REPORT_ACTIVATED:
        if n != 3:
            return -NRC_IMLOIF
        if t == ET_REPORT_ACTIVATED:
            rsp[2] = eng.count_active()
            p = 3
            for e in eng.events:
                if e.active:
                    p = _put_event(rsp, p, e)
                    if p < 0:
                        return -NRC_ROOR
            return p
        if t == ET_START:
            used = False
            for e in eng.events:
                used = used or e.used
            if not used:
                return -NRC_RSE         # nothing set up to start
            eng.start(now, srv.session == 0x01)
        elif t == ET_STOP:
            eng.stop(now)
        else:
            eng.clear(now)
        nrc = _save(srv, eng)
        if nrc:
            return -nrc
        rsp[2] = 0                      # numberOfIdentifiedEvents
        rsp[3] = win
        return 4
    # set-up of an event (01 03 07 08 09)
    k = record_length(t, req, 3, n)
    if k < 0:
        return -NRC_IMLOIF
    sp = 3 + k
    sl = n - sp
    if t == 0x08 or t == 0x09:
        if sl != 0:                     # the response is implied (§10.9.2.2.3)
            return -NRC_IMLOIF
    elif sl < 1:
        return -NRC_IMLOIF
    if not _window_ok(eng, win) or (et & STORE and win != EWT_INFINITE):
        return -NRC_ROOR
    if t == 0x03 or t == 0x07:
        did = (req[3] << 8) | req[4]
        if 0xF200 <= did <= 0xF3FF or srv.profile.dids.get(did) is None:
            return -NRC_ROOR
        if t == 0x07 and not 0x01 <= req[5] <= 0x04:
            return -NRC_ROOR            # comparison logic (codec/roe OP_*)
    elif t == 0x08:
        if req[3] != 0x0D and req[3] != 0x0E:
            return -NRC_ROOR
    elif t == 0x09:
        sf = req[4]
        if sf != 0x04 and sf != 0x06 and sf != 0x18 and sf != 0x19:
            return -NRC_ROOR
    if sl:
        sup = getattr(srv, "supports", None)
        sid = req[sp]
        if sl > eng.cfg.max_service_len or sid == SID_ROE or (sup is not None and not sup(sid)):
            return -NRC_ROOR
    if eng.add(now, et, win, req[3:sp], k, req[sp:n], sl) < 0:
        return -NRC_ROOR                # more events than the server holds
    if et & STORE:
        nrc = _save(srv, eng)
        if nrc:
            return -nrc
    rsp[2] = 0
    rsp[3] = win
    for i in range(3, n):
        rsp[i + 1] = req[i]
    return n + 1


def pop_unsolicited(srv, out):
    eng = getattr(srv, "roe_engine", None)
    if eng is None or not eng.ready_kind:
        return 0
    kind = eng.take_ready()
    e = eng.events[eng.ready_ev]
    if kind == K_FINAL or kind == K_OVERFLOW:
        out[0] = _RSID
        out[1] = e.et
        out[2] = 0xFF if kind == K_OVERFLOW else e.identified
        out[3] = e.window
        p = 4
        for i in range(e.rec_len):
            out[p + i] = e.rec[i]
        p += e.rec_len
        for i in range(e.svc_len):
            out[p + i] = e.svc[i]
        return p + e.svc_len
    t = e.et & 0x3F
    mem = eng.mem
    if t == 0x08:
        d = mem.dtcs[eng.ready_dtc]
        out[0] = 0x59
        out[1] = e.rec[0]
        out[2] = eng.avail
        return put_dtc_status(out, 3, d.code, d.status & eng.avail)
    req = eng.req
    if t == 0x09:
        d = mem.dtcs[eng.ready_dtc]
        req[0] = 0x19
        req[1] = e.rec[1]
        req[2] = (d.code >> 16) & 0xFF
        req[3] = (d.code >> 8) & 0xFF
        req[4] = d.code & 0xFF
        req[5] = e.rec[2]
        n = 6
        if e.rec_len > 3:
            req[6] = e.rec[3]
            n = 7
    else:
        n = e.svc_len
        for i in range(n):
            req[i] = e.svc[i]
        if n > 1 and req[0] in _SF_SIDS:
            req[1] &= 0x7F                  # answered as SPRMIB = 0 (§10.9.1 h)
    r = srv.execute(eng.now, req, n)       # the server's checks + handler, no queueing
    if r == RSP_NONE or r == RSP_PENDING:
        return 0
    if r < 0:
        out[0] = 0x7F
        out[1] = req[0]
        out[2] = -r
        return 3
    rsp = srv.rsp
    for i in range(r):
        out[i] = rsp[i]
    return r


def on_timer(srv, now):
    eng = getattr(srv, "roe_engine", None)
    if eng is None:
        return
    eng.now = now
    eng.mem = store_of(srv).primary         # rebuilt at a reset
    if eng.on_timer(now):
        srv.unsolicited_ready()


def deadline(srv):
    eng = getattr(srv, "roe_engine", None)
    return None if eng is None else eng.deadline()


def on_session(srv, now, old, new):
    eng = getattr(srv, "roe_engine", None)
    if eng is not None:
        eng.session_changed(now, old, new)


def on_reset(srv, now, kind):
    # RAM is lost: only stored events come back (§10.9.1 g).
    srv.roe_engine = None
    eng = engine_of(srv)
    eng.now = now
    nvm = getattr(srv, "nvm", None)
    if nvm is not None:
        eng.load(now, nvm.get(_NVM_KEY))


def _subs():
    out = []
    for t in (0x00, 0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09):
        ctl = t in (0x00, 0x04, 0x05, 0x06)
        out.append(SubFunction(t, exact_len=3 if ctl else -1, min_len=3))
        if not ctl:
            out.append(SubFunction(t | STORE, min_len=3))
    return tuple(out)


SPECS = (
    ServiceSpec(SID_ROE, handle, has_sf=True, min_len=2, sub_functions=_subs(),
                on_session=on_session, on_reset=on_reset, deadline=deadline,
                on_timer=on_timer, pop_unsolicited=pop_unsolicited),
)
