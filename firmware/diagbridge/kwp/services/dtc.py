# readDiagnosticTroubleCodesByStatus 0x18, readStatusOfDiagnosticTroubleCodes
# 0x17 and clearDiagnosticInformation 0x14 (ISO 14230-3) on the UDS server's
# DTC memory (uds/server/services/dtc.py store_of: the profile's "dtcs", the
# application's test results, NVM).  KWP DTCs are two bytes: a KWP profile
# gives codes up to 0xFFFF.
#
#   18 statusOfDTC groupOfDTC(2) -> 58 n [DTC(2) statusOfDTC]*n
#        statusOfDTC 00/02: identified DTCs (failed, pending or confirmed),
#        01/03: every supported DTC
#   17 groupOfDTC(2)             -> 57 n [DTC(2) statusOfDTC]*n
#   14 groupOfDTC(2)             -> 54 groupOfDTC(2)
# groupOfDTC: FF00 all; 0000 / 4000 / 8000 / C000 the powertrain, chassis,
# body and network groups (the code's top two bits); else one DTC, which must
# exist (0x31).  Other refusals: length (the profile's length code), an
# unknown statusOfDTC (0x31), conditions (0x22), NVM write (0x10).
#
# The KWP statusOfDTC byte is derived from the ISO 14229-1 status the memory
# keeps: bits 6-5 DTCStorageState (11 present at the time of the request =
# testFailed, 10 maturing = pendingDTC, 01 not present at the time of the
# request = confirmedDTC only, 00 none), bit 7 the warning lamp
# (warningIndicatorRequested); bits 4-0 (fault symptom) are 0.
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_GR
from diagbridge.uds.server.service import ServiceSpec
from diagbridge.uds.server.services import dtc as _uds
from diagbridge.uds.server.services.dtc import store_of
from diagbridge.kwp.sid import SID_CDI, SID_RSODTC, SID_RDTCBS, GROUP_ALL

_GROUPS = (0x0000, 0x4000, 0x8000, 0xC000)


def kwp_status(s):
    """The ISO 14230-3 statusOfDTC for an ISO 14229-1 DTC status byte."""
    if s & 0x01:
        k = 0x60
    elif s & 0x04:
        k = 0x40
    elif s & 0x08:
        k = 0x20
    else:
        k = 0
    if s & 0x80:
        k |= 0x80
    return k


def _in_group(code, group):
    if group == GROUP_ALL:
        return True
    if group in _GROUPS:
        return (code & 0xC000) == group
    return code == group


def _group_ok(mem, group):
    return group == GROUP_ALL or group in _GROUPS or mem.find(group) is not None


def _list(srv, now, req, n, group, identified_only, sid):
    mem = store_of(srv).primary
    if not _group_ok(mem, group):
        return -NRC_ROOR
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    rsp = srv.rsp
    limit = len(rsp)
    rsp[0] = sid + 0x40
    k = 2
    count = 0
    dl = mem.dtcs
    for i in range(len(dl)):
        d = dl[i]
        code = d.code & 0xFFFF
        if not _in_group(code, group):
            continue
        if identified_only and not d.status & 0x0D:
            continue
        if k + 3 > limit or count == 0xFF:
            return -NRC_GR
        rsp[k] = code >> 8
        rsp[k + 1] = code & 0xFF
        rsp[k + 2] = kwp_status(d.status)
        k += 3
        count += 1
    rsp[1] = count
    return k


def _rdtcbs(srv, now, req, n, functional):
    if n != 4:
        return -NRC_IMLOIF
    st = req[1]
    if st > 3:
        return -NRC_ROOR
    group = (req[2] << 8) | req[3]
    return _list(srv, now, req, n, group, st == 0 or st == 2, SID_RDTCBS)


def _rsodtc(srv, now, req, n, functional):
    if n != 3:
        return -NRC_IMLOIF
    return _list(srv, now, req, n, (req[1] << 8) | req[2], False, SID_RSODTC)


def _cdi(srv, now, req, n, functional):
    if n != 3:
        return -NRC_IMLOIF
    group = (req[1] << 8) | req[2]
    st = store_of(srv)
    mem = st.primary
    if not _group_ok(mem, group):
        return -NRC_ROOR
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    dl = mem.dtcs
    for i in range(len(dl)):
        code = dl[i].code
        if _in_group(code & 0xFFFF, group):
            mem.clear(code)
    try:
        st.save(getattr(srv, "nvm", None), None)
    except OSError:
        return -NRC_GR
    rsp = srv.rsp
    rsp[0] = SID_CDI + 0x40
    rsp[1] = req[1]
    rsp[2] = req[2]
    return 3


SPECS = (
    ServiceSpec(SID_CDI, _cdi, min_len=1, on_reset=_uds.SPECS[0].on_reset),
    ServiceSpec(SID_RSODTC, _rsodtc, min_len=1),
    ServiceSpec(SID_RDTCBS, _rdtcbs, min_len=1),
)
