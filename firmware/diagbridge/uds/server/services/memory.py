# Server side of ReadMemoryByAddress 0x23 and WriteMemoryByAddress 0x3D
# (§11.3, §11.8) over the profile's memory regions (uds/server/profile.py Region).
# A request must lie inside one region.  Regions with nvm persist every write
# under "mem:<start>".
#
# Check order (ISO 14229-1 Fig. 21/28; the flowcharts are missing from the
# source): minimum length -> 13; ALFID -> 31; total length -> 13; size 0,
# out of range, not readable/writable in the active session -> 31;
# authentication -> 34; security -> 33; conditions -> 22; NVM write -> 72.
from diagbridge.uds.codec.memory import alfid_valid, get_address, get_size, fields_len
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_GPF
from diagbridge.uds.server.core import session_ok
from diagbridge.uds.server.service import ServiceSpec
from diagbridge.uds.sid import SID_RMBA, SID_WMBA


def find_region(profile, addr, size):
    if size <= 0:
        return None
    for r in profile.memory:
        if r.start <= addr and addr + size <= r.end:
            return r
    return None


def _locate(srv, req, n, write):
    """(region, address, size) or -NRC, for the fields after the SID."""
    a = req[1]
    if not alfid_valid(a):
        return -NRC_ROOR
    k = 1 + fields_len(a)
    if n < k:
        return -NRC_IMLOIF
    size = get_size(req, 1)
    if (not write and n != k) or (write and n != k + size):
        return -NRC_IMLOIF
    addr = get_address(req, 1)
    r = find_region(srv.profile, addr, size)
    acc = None if r is None else (r.write if write else r.read)
    if acc is None or not session_ok(acc.sessions, srv.session):
        return -NRC_ROOR
    nrc = srv.access_nrc(acc)
    if nrc:
        return -nrc
    return r


def _rmba(srv, now, req, n, functional):
    if n < 4:
        return -NRC_IMLOIF
    r = _locate(srv, req, n, False)
    if isinstance(r, int):
        return r
    size = get_size(req, 1)
    if 1 + size > len(srv.rsp):
        return -NRC_ROOR            # memorySize beyond what one response carries
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    off = get_address(req, 1) - r.start
    rsp = srv.rsp
    data = r.data
    rsp[0] = SID_RMBA + 0x40
    for i in range(size):
        rsp[1 + i] = data[off + i]
    return 1 + size


def _wmba(srv, now, req, n, functional):
    if n < 5:
        return -NRC_IMLOIF
    r = _locate(srv, req, n, True)
    if isinstance(r, int):
        return r
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    k = 1 + fields_len(req[1])
    size = get_size(req, 1)
    off = get_address(req, 1) - r.start
    data = r.data
    old = bytes(data[off:off + size])
    for i in range(size):
        data[off + i] = req[k + i]
    if r.nvm and srv.nvm is not None:
        try:
            srv.nvm.put(r.key, data)
        except OSError:
            data[off:off + size] = old      # RAM never runs ahead of NVM
            return -NRC_GPF
    rsp = srv.rsp
    rsp[0] = SID_WMBA + 0x40
    for i in range(1, k):
        rsp[i] = req[i]                     # echo ALFID, address, size (§11.8)
    return k


SPECS = (
    ServiceSpec(SID_RMBA, _rmba, min_len=1),
    ServiceSpec(SID_WMBA, _wmba, min_len=1),
)
