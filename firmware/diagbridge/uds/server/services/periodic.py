# Server side of ReadDataByPeriodicIdentifier 0x2A (§11.5, uds-digest §10.6).
# A PDID is DID 0xF2xx of the profile: a static DID or a DDDID defined by
# 0x2C, read through srv_data.read_did with the DID's read access.
#
# Profile section (optional; rates are VM-specific, §11.5.1):
#   periodic: {"slow_ms": 1000, "medium_ms": 200, "fast_ms": 50, "max_pdids": 8}
# Scheduler: every scheduled PDID has its own timer at its rate, so the
# documented rate is the period of each PDID whatever their number (no
# aliasing, nothing ever dropped).  The first message goes out right after
# the 6A, then exactly every period (next = previous + period: no drift).
# Messages leave through pop_unsolicited as `PDID data` (no SID, §8.3 note),
# only while no request is in progress; one that is still waiting when its
# next period comes is sent once.  After the 6A no negative response is ever
# sent for the schedule (§11.5.1): a PDID that becomes unreadable (a DDDID
# cleared, security re-locked, ...) is silently unscheduled.
# Scheduling stops on the return to the default session (the service is not
# allowed there, Table 23 [K]) and on reset; non-default -> non-default
# transitions keep it.
#
# Check order (Fig 23 is missing from the source; [K?]):
#   length >= 2 -> 13; transmissionMode 01-04 -> 31; 01-03 without a PDID
#   -> 13; no PDID readable in the active session -> 31 (unreadable ones
#   are dropped, §8.7.4.2 b); authentication -> 34; security -> 33;
#   conditions -> 22; more PDIDs than max_pdids scheduled at once -> 31
#   (nothing from that request is scheduled, §11.5.1).
from diagbridge.clock import ticks_add, due, earliest
from diagbridge.errors import ConfigError
from diagbridge.uds.codec.periodic import (TM_SEND_AT_SLOW_RATE, TM_SEND_AT_FAST_RATE,
                                           TM_STOP_SENDING, pdid_did, write_rdbpi_response)
from diagbridge.uds.server.config import session_ok, DEFAULT_SESSION
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_AR
from diagbridge.uds.server.service import ServiceSpec, NON_DEFAULT
from diagbridge.uds.sid import SID_RDBPI
from diagbridge.uds.server.services.data import read_did


def _int(raw, k, default, lo, hi):
    v = raw.get(k, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("periodic." + k)
    return v


class PeriodicContext:
    """The schedule: slot i sends PDID pdid[i] every period_us[i] (mode 0 = free)."""

    def __init__(self, srv):
        raw = getattr(srv.profile, "raw", None) or {}
        c = raw.get("periodic") or {}
        if not isinstance(c, dict):
            raise ConfigError("periodic")
        # index = transmissionMode: slow, medium, fast (200 s: inside the tick half-period)
        self.rate_us = (0, _int(c, "slow_ms", 1000, 1, 200000) * 1000,
                        _int(c, "medium_ms", 200, 1, 200000) * 1000,
                        _int(c, "fast_ms", 50, 1, 200000) * 1000)
        m = _int(c, "max_pdids", 8, 1, 255)
        self.max_pdids = m
        self.pdid = bytearray(m)
        self.mode = bytearray(m)
        self.at = [None] * m        # tick of the next message
        self.ready = bytearray(m)   # 1: a message waits for pop_unsolicited
        self.sent = 0               # periodic messages handed out

    def find(self, pdid):
        for i in range(self.max_pdids):
            if self.mode[i] and self.pdid[i] == pdid:
                return i
        return -1

    def count(self):
        c = 0
        for i in range(self.max_pdids):
            if self.mode[i]:
                c += 1
        return c

    def stop(self, i):
        self.mode[i] = 0
        self.ready[i] = 0
        self.at[i] = None

    def stop_all(self):
        for i in range(self.max_pdids):
            if self.mode[i]:
                self.stop(i)


def _readable(srv, pdid):
    d = srv.profile.dids.get(pdid_did(pdid))
    if d is None or not session_ok(d.read.sessions, srv.session):
        return None
    return d


def _in_request(req, n, pdid, upto):
    for j in range(2, upto):
        if req[j] == pdid:
            return True
    return False


def _handle(srv, now, req, n, functional):
    if n < 2:
        return -NRC_IMLOIF
    mode = req[1]
    if mode < TM_SEND_AT_SLOW_RATE or mode > TM_STOP_SENDING:
        return -NRC_ROOR
    ctx = srv.uds_periodic
    if mode == TM_STOP_SENDING:
        if n == 2:
            ctx.stop_all()
        for j in range(2, n):
            i = ctx.find(req[j])
            if i >= 0:
                ctx.stop(i)
        return write_rdbpi_response(srv.rsp)
    if n < 3:
        return -NRC_IMLOIF
    found = 0
    deny = 0
    new = 0
    for j in range(2, n):
        d = _readable(srv, req[j])
        if d is None:
            continue
        found += 1
        nrc = srv.access_nrc(d.read)
        if nrc == NRC_AR or (nrc and not deny):
            deny = nrc
        if ctx.find(req[j]) < 0 and not _in_request(req, n, req[j], j):
            new += 1                # duplicates count once (§11.5.1)
    if not found:
        return -NRC_ROOR
    if deny:
        return -deny
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    if ctx.count() + new > ctx.max_pdids:
        return -NRC_ROOR
    period = ctx.rate_us[mode]
    for j in range(2, n):
        pdid = req[j]
        if _readable(srv, pdid) is None or _in_request(req, n, pdid, j):
            continue
        i = ctx.find(pdid)
        if i < 0:
            i = _free(ctx)
        ctx.pdid[i] = pdid
        ctx.mode[i] = mode          # a new mode reschedules the PDID
        ctx.ready[i] = 1            # the first message follows the 6A
        ctx.at[i] = ticks_add(now, period)
    srv.unsolicited_ready()
    return write_rdbpi_response(srv.rsp)


def _free(ctx):
    for i in range(ctx.max_pdids):
        if not ctx.mode[i]:
            return i
    return -1


def _on_timer(srv, now):
    ctx = srv.uds_periodic
    any_ready = False
    at = ctx.at
    for i in range(ctx.max_pdids):
        if ctx.mode[i] and due(now, at[i]):
            ctx.ready[i] = 1
            p = ctx.rate_us[ctx.mode[i]]
            t = ticks_add(at[i], p)
            while due(now, t):      # periods missed while blocked: send once
                t = ticks_add(t, p)
            at[i] = t
            any_ready = True
    if any_ready:
        srv.unsolicited_ready()


def _deadline(srv):
    ctx = srv.uds_periodic
    d = None
    for i in range(ctx.max_pdids):
        if ctx.mode[i]:
            d = earliest(d, ctx.at[i])
    return d


def _pop(srv, out):
    ctx = srv.uds_periodic
    for i in range(ctx.max_pdids):
        if not ctx.ready[i]:
            continue
        ctx.ready[i] = 0
        d = _readable(srv, ctx.pdid[i])
        if d is None or srv.access_nrc(d.read) or 1 + d.length > len(out):
            ctx.stop(i)             # never a negative response (§11.5.1)
            continue
        out[0] = ctx.pdid[i]
        read_did(srv, d, out, 1)
        ctx.sent += 1
        return 1 + d.length
    return 0


def _build(srv):
    srv.uds_periodic = PeriodicContext(srv)


def _on_session(srv, now, old, new):
    if new == DEFAULT_SESSION:
        srv.uds_periodic.stop_all()


def _on_reset(srv, now, kind):
    srv.uds_periodic.stop_all()


SPECS = (
    ServiceSpec(SID_RDBPI, _handle, min_len=1, sessions=NON_DEFAULT, on_build=_build,
                on_session=_on_session, on_reset=_on_reset, deadline=_deadline,
                on_timer=_on_timer, pop_unsolicited=_pop),
)
