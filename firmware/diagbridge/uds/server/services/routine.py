# RoutineControl 0x31 server, ISO 14229-1 §14 (digest §10.11, §11.1).
# Routines come from the profile: {rid: {"sessions", "levels", "kind",
# "duration_ms", "result", "option_length"}} with kinds
#   erase               RID FF00: option `ALFID addr size` inside a download
#                       region; takes erase_us_per_kib x KiB of virtual time,
#                       answered with 0x78 (RSP_PENDING), then erased
#   check_dependencies  RID FF01: status 00 when every erased range has been
#                       programmed again since, else 01
#   checksum            option `ALFID addr size` in a download/upload region:
#                       status = CRC-16/CCITT-FALSE (2 bytes), after duration_ms
#   generic             start answers at once; with duration_ms > 0 it runs
#                       that long and stops itself (method B, §14.1); its
#                       status record is "result"
# A routine that completes inside the start request (erase, checks, generic
# with no duration) puts its status record in the start response too.
#
# Check order (Fig 30 missing; reconstructed [K?]): 13 short -> 31 RID
# unknown / not in this session -> 33 RID level -> 13 option length/layout ->
# 31 option values (ALFID nibble, address range) -> 24 stop/results of a
# routine never started -> 22 already running, transfer active, conditions.
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_CNC, NRC_RSE, NRC_ROOR, NRC_SAD
from diagbridge._compat import const
from diagbridge.clock import ticks_add, due
from diagbridge.uds.codec.routine import (
    SID_ROUTINE_CONTROL, RC_START, RC_STOP, RC_RESULTS, write_routine_control_response)
from diagbridge.uds.codec.transfer import read_address_and_size
from diagbridge.uds.server.service import ServiceSpec, SubFunction, RSP_PENDING, NON_DEFAULT
from diagbridge.uds.server.transfer_machine import context as transfer_context, S_IDLE


# per-RID state
_R_NEVER = const(0)
_R_RUNNING = const(1)
_R_DONE = const(2)          # stopped by the client or finished by itself


def allowed(sessions, session):
    """Access-set test of uds/server/service.py (None = any, NON_DEFAULT, or a tuple)."""
    if sessions is None:
        return True
    if sessions == NON_DEFAULT:
        return session != 1
    return session in sessions


class RoutineContext:
    def __init__(self):
        self.state = {}         # rid -> _R_*
        self.ends = {}          # rid -> tick a generic routine stops itself
        self.status = {}        # rid -> bytes: last status record
        self.pending_rid = -1   # routine answering 0x78
        self.pending_until = None
        self.pending_addr = 0
        self.pending_size = 0


def context(srv):
    ctx = getattr(srv, "uds_routine", None)
    if ctx is None:
        ctx = RoutineContext()
        srv.uds_routine = ctx
    return ctx


def _region_option(srv, req, n, erase):
    """(addr, size) of an `ALFID addr size` option record or -NRC."""
    r = read_address_and_size(req, 4, n)
    if r is None:
        return -NRC_IMLOIF
    if r == -1 or r[2] == 0:
        return -NRC_ROOR
    _, addr, size = r
    t = transfer_context(srv)
    regions = t.download_regions if erase else t.download_regions + t.upload_regions
    if t.region_for(regions, addr, size) < 0:
        return -NRC_ROOR
    return addr, size


def _handler(srv, now, req, n, functional):
    if n < 4:
        return -NRC_IMLOIF
    sf = req[1] & 0x7F
    rid = (req[2] << 8) | req[3]
    r = srv.profile.routines.get(rid)
    if r is None or not allowed(r["sessions"], srv.session):
        return -NRC_ROOR
    levels = r["levels"]
    if levels and srv.level not in levels:
        return -NRC_SAD
    kind = r["kind"]
    ctx = context(srv)
    _tick(ctx, now)
    opt = None
    if sf == RC_START and (kind == "erase" or kind == "checksum"):
        opt = _region_option(srv, req, n, kind == "erase")
        if isinstance(opt, int):
            return opt
    elif r["option_length"] >= 0:
        want = r["option_length"] if sf == RC_START else 0
        if n - 4 != want:
            return -NRC_IMLOIF
    st = ctx.state.get(rid, _R_NEVER)
    if sf != RC_START and st == _R_NEVER:
        return -NRC_RSE                # stop/results before start (§14.2.4)
    if sf == RC_RESULTS and st == _R_RUNNING:
        return -NRC_RSE                # results are ready when it has stopped
    if sf == RC_START:
        if st == _R_RUNNING:
            return -NRC_CNC
        if kind == "erase" and transfer_context(srv).machine.state != S_IDLE:
            return -NRC_CNC            # never erase under a running download
    cond = getattr(srv, "conditions_nrc", None)
    if cond is not None:
        c = cond(now, req, n)
        if c:
            return -c
    rsp = srv.rsp
    k = write_routine_control_response(rsp, sf, rid)
    if sf == RC_STOP:
        ctx.state[rid] = _R_DONE
        ctx.ends.pop(rid, None)
        return k
    if sf == RC_RESULTS:
        return _status(rsp, k, ctx.status.get(rid, b""))
    # start
    if kind == "erase" or kind == "checksum":
        addr, size = opt
        if kind == "erase":
            us = transfer_context(srv).store.erase_time_us(addr, size)
        else:
            us = r["duration_ms"] * 1000
        ctx.state[rid] = _R_RUNNING
        ctx.pending_rid = rid
        ctx.pending_addr = addr
        ctx.pending_size = size
        ctx.pending_until = ticks_add(now, us)
        if us <= 0:
            return _resume(srv, now)
        return RSP_PENDING
    if kind == "check_dependencies":
        ok = transfer_context(srv).dependencies_ok()
        ctx.status[rid] = b"\x00" if ok else b"\x01"
        ctx.state[rid] = _R_DONE
        return _status(rsp, k, ctx.status[rid])
    ctx.status[rid] = r["result"]
    if r["duration_ms"] > 0:
        ctx.state[rid] = _R_RUNNING
        ctx.ends[rid] = ticks_add(now, r["duration_ms"] * 1000)
        return k
    ctx.state[rid] = _R_DONE
    return _status(rsp, k, r["result"])


def _status(rsp, k, record):
    for b in record:
        rsp[k] = b
        k += 1
    return k


def _tick(ctx, now):
    # generic routines that ran their duration stop themselves (method B)
    for rid in ctx.ends:
        if due(now, ctx.ends[rid]):
            ctx.state[rid] = _R_DONE
    for rid in [x for x in ctx.ends if ctx.state.get(x) == _R_DONE]:
        del ctx.ends[rid]


def _resume(srv, now):
    ctx = context(srv)
    if not due(now, ctx.pending_until):
        return RSP_PENDING
    rid = ctx.pending_rid
    r = srv.profile.routines[rid]
    t = transfer_context(srv)
    addr = ctx.pending_addr
    size = ctx.pending_size
    if r["kind"] == "erase":
        nrc = t.store.erase(addr, size)
        if nrc:
            ctx.state[rid] = _R_DONE
            ctx.pending_rid = -1
            ctx.pending_until = None
            return -nrc
        t.erased.append([addr, size, 0])
        status = r["result"]
    else:
        crc = t.store.crc16(addr, size)
        status = bytes((crc >> 8, crc & 0xFF))
    ctx.status[rid] = status
    ctx.state[rid] = _R_DONE
    ctx.pending_rid = -1
    ctx.pending_until = None
    k = write_routine_control_response(srv.rsp, RC_START, rid)
    return _status(srv.rsp, k, status)


def _deadline(srv):
    ctx = getattr(srv, "uds_routine", None)
    if ctx is None:
        return None
    return ctx.pending_until


def _on_session(srv, now, old, new):
    # into default: routines of non-default sessions end (§5.2)
    ctx = getattr(srv, "uds_routine", None)
    if ctx is not None and new == 1:
        for rid in ctx.state:
            if ctx.state[rid] == _R_RUNNING:
                ctx.state[rid] = _R_DONE
        ctx.ends.clear()


def _on_reset(srv, now, kind):
    ctx = getattr(srv, "uds_routine", None)
    if ctx is not None:
        srv.uds_routine = RoutineContext()


SPECS = (
    ServiceSpec(SID_ROUTINE_CONTROL, _handler, has_sf=True, min_len=2,
                sub_functions=(SubFunction(RC_START, min_len=4),
                               SubFunction(RC_STOP, min_len=4),
                               SubFunction(RC_RESULTS, min_len=4)),
                resume=_resume, deadline=_deadline,
                on_session=_on_session, on_reset=_on_reset),
)
