# inputOutputControlByLocalIdentifier 0x30 (ISO 14230-3), run by the UDS IO
# control handler (uds/server/services/io.py: the profile's "io_controls",
# keyed here by the local identifier 0x00-0xFF; sessions, levels, min / max,
# the value a read sees while the tester controls it).
#
#   30 IOLI inputOutputControlParameter [controlState]
#                                -> 70 IOLI inputOutputControlParameter controlState
# IOCP: 00 returnControlToECU, 01 reportCurrentState, 04 resetToDefault,
# 05 freezeCurrentState, 07 shortTermAdjustment (with the new state); the
# others are 0x31.  The KWP request becomes `2F 00 IOLI iocp' [state]`
# (iocp' the ISO 14229-1 value) and the answer `6F 00 IOLI iocp' state`
# becomes `70 IOLI iocp state`.  Refusals: length (the profile's length code),
# unknown identifier or not in session (0x31), security (0x33), a state out
# of min / max (0x31), conditions (0x22).  Control ends on the way back to
# the standard session and at a reset.
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR
from diagbridge.uds.server.service import ServiceSpec, NON_DEFAULT
from diagbridge.uds.server.services import io as _uds
from diagbridge.uds.server.services.data import read_did
from diagbridge.kwp.services.bridge import scratch, final, session_hook, session_ok
from diagbridge.kwp.sid import SID_IOCBLI

_U = _uds.SPECS[0]
# KWP inputOutputControlParameter -> ISO 14229-1 (-1: reportCurrentState, read only)
_IOCP = {0x00: 0x00, 0x01: -1, 0x04: 0x01, 0x05: 0x02, 0x07: 0x03}


def _handle(srv, now, req, n, functional):
    if n < 3:
        return -NRC_IMLOIF
    lid = req[1]
    iocp = req[2]
    u_iocp = _IOCP.get(iocp)
    if u_iocp is None:
        return -NRC_ROOR
    rsp = srv.rsp
    if u_iocp < 0:
        it = srv.uds_io.get(lid)
        if it is None or not session_ok(srv, it.sessions):
            return -NRC_ROOR
        if n != 3:
            return -NRC_IMLOIF
        if it.levels and srv.level not in it.levels:
            return -0x33
        rsp[0] = SID_IOCBLI + 0x40
        rsp[1] = lid
        rsp[2] = iocp
        read_did(srv, srv.profile.dids[lid], rsp, 3)
        return 3 + it.length
    u = scratch(srv)
    u[0] = 0x2F
    u[1] = 0
    u[2] = lid
    u[3] = u_iocp
    for i in range(3, n):
        u[1 + i] = req[i]
    r = _U.handler(srv, now, u, n + 1, False)
    if not final(r):
        return r
    rsp[0] = SID_IOCBLI + 0x40
    for i in range(1, r - 1):
        rsp[i] = rsp[i + 1]
    rsp[1] = lid
    rsp[2] = iocp
    return r - 1


SPECS = (
    ServiceSpec(SID_IOCBLI, _handle, min_len=1, sessions=NON_DEFAULT, on_build=_U.on_build,
                on_session=session_hook(_U.on_session), on_reset=_U.on_reset),
)
