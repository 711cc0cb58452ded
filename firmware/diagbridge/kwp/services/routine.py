# startRoutineByLocalIdentifier 0x31, stopRoutineByLocalIdentifier 0x32 and
# requestRoutineResultsByLocalIdentifier 0x33 (ISO 14230-3), run by the UDS
# RoutineControl handler (uds/server/services/routine.py: the profile's
# "routines" keyed by local identifier 0x00-0xFF, their sessions, levels,
# option length, duration and results, RSP_PENDING with 0x78 while a routine
# of kind erase / checksum runs):
#
#   31 RLI [routineEntryOption]  -> 71 RLI [routineEntryStatus]
#   32 RLI                       -> 72 RLI [routineExitStatus]
#   33 RLI                       -> 73 RLI [routineResults]
# The KWP request becomes `31 sf 00 RLI ...` for the UDS handler and its
# answer `71 sf 00 RLI ...` loses sf and the high RID byte.  Refusals: length
# (the profile's length code), unknown routine or not in session (0x31),
# security (0x33), stop / results before a start or results while it runs
# (0x22 requestSequenceError), conditions (0x22).
from diagbridge.uds.nrc import NRC_IMLOIF
from diagbridge.uds.server.service import ServiceSpec
from diagbridge.uds.server.services import routine as _uds
from diagbridge.kwp.services.bridge import scratch, final, shift, session_hook
from diagbridge.kwp.sid import SID_STRBLI, SID_SPRBLI, SID_RRRBLI

_U = _uds.SPECS[0]


def _call(srv, now, req, n, sf, sid):
    if n < 2 or (sid != SID_STRBLI and n != 2):
        return -NRC_IMLOIF
    u = scratch(srv)
    if n + 2 > len(u):
        return -NRC_IMLOIF
    u[0] = 0x31
    u[1] = sf
    u[2] = 0
    for i in range(1, n):
        u[2 + i] = req[i]
    r = _U.handler(srv, now, u, n + 2, False)
    return shift(srv.rsp, r, 2, sid) if final(r) else r


def _start(srv, now, req, n, functional):
    return _call(srv, now, req, n, 0x01, SID_STRBLI)


def _stop(srv, now, req, n, functional):
    return _call(srv, now, req, n, 0x02, SID_SPRBLI)


def _results(srv, now, req, n, functional):
    return _call(srv, now, req, n, 0x03, SID_RRRBLI)


def _resume(srv, now):
    r = _U.resume(srv, now)
    return shift(srv.rsp, r, 2, SID_STRBLI) if final(r) else r


_HOOK = session_hook(_U.on_session)

SPECS = (
    ServiceSpec(SID_STRBLI, _start, min_len=1, resume=_resume, deadline=_U.deadline,
                on_session=_HOOK, on_reset=_U.on_reset),
    ServiceSpec(SID_SPRBLI, _stop, min_len=1),
    ServiceSpec(SID_RRRBLI, _results, min_len=1),
)
