# startDiagnosticSession 0x10, stopDiagnosticSession 0x20, ecuReset 0x11 and
# testerPresent 0x3E (ISO 14230-3) on the UDS server's session machinery
# (set_session: the transition effects, security re-locked, every module's
# on_session; request_reset: EV_RESET after the response).
#
#   10 diagnosticMode            -> 50 diagnosticMode  (modes: the profile's
#                                   sessions; 0x82 = periodic transmission,
#                                   which kwp/ecu.py hands to the K-Line link)
#   20                           -> 60                 back to the standard session
#   11 resetMode                 -> 51 resetMode       (modes: profile reset.types)
#   3E [01]                      -> 7E;  3E 02 -> no response
#
# The general checks run first: an unknown mode is 0x12, a mode not enterable
# from the active one ("from") 0x80, a wrong length the profile's length code
# (0x12; the tachograph's 0x13).  Requesting the active session is positive
# (tachograph CPR_025 c) and re-runs the transition.
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_SFNS
from diagbridge.uds.server.service import ServiceSpec, SubFunction, RSP_NONE
from diagbridge.kwp.sid import SID_SDS, SID_SPDS, SID_ER, SID_TP, TP_RESPONSE, TP_NO_RESPONSE


def _sds(srv, now, req, n, functional):
    mode = req[1]
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc                 # the current session continues (CPR_025 d)
    srv.set_session(now, mode)
    rsp = srv.rsp
    rsp[0] = SID_SDS + 0x40
    rsp[1] = mode
    return 2


def _sds_sfs(profile):
    out = []
    for s in sorted(profile.sessions):
        out.append(SubFunction(s, sessions=profile.sessions[s].from_, exact_len=2))
    return tuple(out)


def _spds(srv, now, req, n, functional):
    if n != 1:
        return -NRC_IMLOIF
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    srv.set_session(now, srv.default_session)
    srv.rsp[0] = SID_SPDS + 0x40
    return 1


def _er(srv, now, req, n, functional):
    mode = req[1]
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    srv.request_reset(mode)
    rsp = srv.rsp
    rsp[0] = SID_ER + 0x40
    rsp[1] = mode
    return 2


def _er_sfs(profile):
    return tuple(SubFunction(t, exact_len=2) for t in profile.reset_types)


def _tp(srv, now, req, n, functional):
    if n > 2:
        return -NRC_IMLOIF
    if n == 2 and req[1] != TP_RESPONSE:
        if req[1] == TP_NO_RESPONSE:
            return RSP_NONE         # the server restarted its timers already
        return -NRC_SFNS
    srv.rsp[0] = SID_TP + 0x40
    return 1


def _whole(spec):
    spec.sf_whole = True            # diagnosticMode / resetMode: no SPRMIB bit
    return spec


SPECS = (
    _whole(ServiceSpec(SID_SDS, _sds, has_sf=True, min_len=2, sub_functions_for=_sds_sfs)),
    ServiceSpec(SID_SPDS, _spds, min_len=1),
    _whole(ServiceSpec(SID_ER, _er, has_sf=True, min_len=2, sub_functions_for=_er_sfs)),
    ServiceSpec(SID_TP, _tp, min_len=1),
)
