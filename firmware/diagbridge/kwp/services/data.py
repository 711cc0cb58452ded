# readEcuIdentification 0x1A, readDataByLocalIdentifier 0x21,
# readDataByCommonIdentifier 0x22, writeDataByCommonIdentifier 0x2E and
# writeDataByLocalIdentifier 0x3B (ISO 14230-3).  Local identifiers and the
# identification options are profile entries of the DID kind (profile.py
# local_ids, ecu_identification: static values persisted in NVM when written,
# live values from profile.sources); common identifiers are the profile's
# DIDs, read and written by the UDS handlers themselves (one DID per request).
#
#   1A identificationOption      -> 5A option data
#   21 RLI                       -> 61 RLI data
#   22 CID(2)                    -> 62 CID data
#   2E CID(2) data               -> 6E CID
#   3B RLI data                  -> 7B RLI
# Order of checks: length (the profile's length code), identifier known and
# allowed in the active session (0x31), security (0x33), conditions (0x22),
# NVM write (0x10 generalReject).  DID access sets for a KWP profile name
# their sessions (e.g. [0x85]); "non_default" means outside 0x81 here.
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_GR
from diagbridge.uds.server.service import ServiceSpec
from diagbridge.uds.server.services import data as _uds
from diagbridge.uds.server.services.data import read_did
from diagbridge.kwp.services.bridge import session_ok
from diagbridge.kwp.sid import SID_REI, SID_RDBLI, SID_RDBCI, SID_WDBCI, SID_WDBLI


def _rdbi_one(srv, now, req, n, functional):
    if n != 3:
        return -NRC_IMLOIF          # one common identifier per request
    return _U_RDBI(srv, now, req, n, functional)


def _wdbi(srv, now, req, n, functional):
    return _U_WDBI(srv, now, req, n, functional)


def _read(srv, now, req, n, table, sid):
    if n != 2:
        return -NRC_IMLOIF
    d = table.get(req[1])
    if d is None or not session_ok(srv, d.read.sessions):
        return -NRC_ROOR
    nrc = srv.access_nrc(d.read)
    if nrc:
        return -nrc
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    rsp = srv.rsp
    if 2 + d.length > len(rsp):
        return -NRC_GR
    rsp[0] = sid + 0x40
    rsp[1] = req[1]
    read_did(srv, d, rsp, 2)
    return 2 + d.length


def _rei(srv, now, req, n, functional):
    return _read(srv, now, req, n, srv.profile.ecu_ids, SID_REI)


def _rdbli(srv, now, req, n, functional):
    return _read(srv, now, req, n, srv.profile.local_ids, SID_RDBLI)


def _wdbli(srv, now, req, n, functional):
    if n < 3:
        return -NRC_IMLOIF
    d = srv.profile.local_ids.get(req[1])
    if d is None or d.write is None or d.source is not None \
            or not session_ok(srv, d.write.sessions):
        return -NRC_ROOR
    if n - 2 != d.length:
        return -NRC_IMLOIF
    nrc = srv.access_nrc(d.write)
    if nrc:
        return -nrc
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    if d.nvm and srv.nvm is not None:
        try:
            srv.nvm.put(d.key, bytes(req[2:n]))     # NVM first: RAM never runs ahead
        except OSError:
            return -NRC_GR
    val = d.value
    for i in range(d.length):
        val[i] = req[2 + i]
    rsp = srv.rsp
    rsp[0] = SID_WDBLI + 0x40
    rsp[1] = req[1]
    return 2


def _uds_handler(sid):
    for s in _uds.SPECS:
        if s.sid == sid:
            return s.handler
    return None


_U_RDBI = _uds_handler(SID_RDBCI)       # 0x22 has the same layout in both standards
_U_WDBI = _uds_handler(SID_WDBCI)       # 0x2E likewise

SPECS = (
    ServiceSpec(SID_REI, _rei, min_len=1),
    ServiceSpec(SID_RDBLI, _rdbli, min_len=1),
    ServiceSpec(SID_RDBCI, _rdbi_one, min_len=1),
    ServiceSpec(SID_WDBCI, _wdbi, min_len=1),
    ServiceSpec(SID_WDBLI, _wdbli, min_len=1),
)
