# Server side of DiagnosticSessionControl 0x10, ECUReset 0x11, TesterPresent
# 0x3E, CommunicationControl 0x28 and ControlDTCSetting 0x85 (§10.2, 10.3,
# 10.5, 10.7, 10.8).  The server has already run the general checks of §8.7
# (SID/SF supported, session, security, exact length) from these specs.
from diagbridge.uds.codec.session import (write_dsc_response, write_ecu_reset_response,
                                          write_sf_response, cc_request_length)
from diagbridge.uds.nrc import NRC_ROOR, NRC_IMLOIF
from diagbridge.uds.server.service import ServiceSpec, SubFunction, NON_DEFAULT
from diagbridge.uds.sid import SID_DSC, SID_ER, SID_TP, SID_CC, SID_CDTCS

_RAPID_ON = 0x04            # enableRapidPowerShutDown
_RAPID_OFF = 0x05           # disableRapidPowerShutDown


# ---- 0x10 -------------------------------------------------------------------------
def _dsc(srv, now, req, n, functional):
    sf = req[1] & 0x7F
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc             # the current session continues (§10.2.1)
    # The response reports the new session's timing (§10.2.1); requesting
    # the active session re-runs the transition (§5.2).
    srv.set_session(now, sf)
    return write_dsc_response(srv.rsp, sf, srv.p2_ms(sf), srv.p2star_ms(sf))


def _dsc_sfs(profile):
    out = []
    for s in sorted(profile.sessions):
        out.append(SubFunction(s, sessions=profile.sessions[s].from_, exact_len=2))
    return tuple(out)


# ---- 0x11 -------------------------------------------------------------------------
def _ecu_reset(srv, now, req, n, functional):
    sf = req[1] & 0x7F
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    if sf == _RAPID_ON:
        srv.rapid_power_shutdown = True
        return write_ecu_reset_response(srv.rsp, sf, srv.profile.power_down_time_s)
    if sf == _RAPID_OFF:
        srv.rapid_power_shutdown = False
        return write_ecu_reset_response(srv.rsp, sf)
    srv.request_reset(sf)       # EV_RESET once the response is queued (§10.3.1)
    return write_ecu_reset_response(srv.rsp, sf)


def _reset_sfs(profile):
    return tuple(SubFunction(t, exact_len=2) for t in profile.reset_types)


# ---- 0x3E -------------------------------------------------------------------------
def _tester_present(srv, now, req, n, functional):
    return write_sf_response(srv.rsp, SID_TP, 0)   # the server restarted S3 already


# ---- 0x28 -------------------------------------------------------------------------
def _comm_control(srv, now, req, n, functional):
    sf = req[1] & 0x7F
    ct = req[2]
    # B.1: bits 1-0 the message type (00 reserved), bits 3-2 reserved
    if ct & 0x03 == 0 or ct & 0x0C:
        return -NRC_ROOR
    node = -1
    if n == 5:
        node = (req[3] << 8) | req[4]
        ids = srv.profile.cc_node_ids
        if ids and node not in ids:
            return -NRC_ROOR
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    # positive even if the state is already active (§10.5.1)
    srv.set_comm_control(sf, ct, node)
    return write_sf_response(srv.rsp, SID_CC, sf)


def _cc_sfs(profile):
    return tuple(SubFunction(t, exact_len=cc_request_length(t)) for t in profile.cc_types)


# ---- 0x85 -------------------------------------------------------------------------
def _dtc_setting(srv, now, req, n, functional):
    sf = req[1] & 0x7F
    option = None
    if n != 2:
        # DTCSettingControlOptionRecord: a groupOfDTC (3 bytes) in this server
        if n != 5:
            return -NRC_IMLOIF
        group = (req[2] << 16) | (req[3] << 8) | req[4]
        if group != 0xFFFFFF and not _known_dtc(srv.profile, group):
            return -NRC_ROOR
        option = bytes(req[2:5])
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    srv.set_dtc_setting(sf == 0x01, option)   # positive even if already set (§10.8.1)
    return write_sf_response(srv.rsp, SID_CDTCS, sf)


def _known_dtc(profile, code):
    for d in profile.dtcs:
        if d["code"] == code:
            return True
    return False


SPECS = (
    ServiceSpec(SID_DSC, _dsc, has_sf=True, min_len=2, sub_functions_for=_dsc_sfs),
    ServiceSpec(SID_ER, _ecu_reset, has_sf=True, min_len=2, sub_functions_for=_reset_sfs),
    ServiceSpec(SID_TP, _tester_present, has_sf=True, min_len=2,
                sub_functions=(SubFunction(0x00, exact_len=2),)),
    ServiceSpec(SID_CC, _comm_control, has_sf=True, min_len=2, sessions=NON_DEFAULT,
                sub_functions_for=_cc_sfs),
    ServiceSpec(SID_CDTCS, _dtc_setting, has_sf=True, min_len=2, sessions=NON_DEFAULT,
                sub_functions=(SubFunction(0x01), SubFunction(0x02))),
)
