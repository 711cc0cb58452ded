# Server side of ReadDataByIdentifier 0x22, ReadScalingDataByIdentifier 0x24
# and WriteDataByIdentifier 0x2E (§11.2, 11.4, 11.7).  DIDs come from the
# profile (uds/server/profile.py Did): static values (written ones persisted in
# NVM), live values from profile.sources[name](srv, did) -> int | bytes,
# and the built-in source "active_session" (0xF186, C.1).
#
# Check order (after §8.7's SID checks; the 2020 flowcharts are missing from
# the source, this follows ISO 14229-1 Fig. 20/26):
#   0x22: length odd and >= 3, at most max_dids DIDs -> 13; no DID
#         supported in the active session -> 31 (unsupported ones are
#         dropped, §8.7.4.2 b); authentication of a supported DID -> 34;
#         security -> 33; conditions -> 22; response too long -> 14.
#   0x2E: length >= 4 -> 13; DID writable in the active session -> 31;
#         record length -> 13; authentication -> 34; security -> 33;
#         conditions -> 22; NVM write -> 72.
#   0x24: length 3 -> 13; DID with scaling readable in session -> 31;
#         authentication -> 34; security -> 33; conditions -> 22.
from diagbridge.uds.codec.data import get_u16, put_u16, put_uint, write_wdbi_response
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_RTL, NRC_AR, NRC_GPF
from diagbridge.uds.server.core import session_ok
from diagbridge.uds.server.service import ServiceSpec
from diagbridge.uds.sid import SID_RDBI, SID_RSDBI, SID_WDBI


def read_did(srv, d, out, pos):
    """Write DID d's record at out[pos:pos + d.length]."""
    src = d.source
    k = d.length
    if src is not None:
        if src == "active_session":
            put_uint(out, pos, srv.session, k)
            return
        fn = srv.profile.sources.get(src)
        if fn is not None:
            v = fn(srv, d.did)
            if isinstance(v, int):
                put_uint(out, pos, v, k)
                return
            if v is not None:
                m = len(v)
                for i in range(k):
                    out[pos + i] = v[i] if i < m else 0
                return
    val = d.value
    for i in range(k):
        out[pos + i] = val[i]


def _readable(srv, did):
    d = srv.profile.dids.get(did)
    if d is None or not session_ok(d.read.sessions, srv.session):
        return None
    return d


def _rdbi(srv, now, req, n, functional):
    if n < 3 or not n & 1:
        return -NRC_IMLOIF
    count = (n - 1) >> 1
    if count > srv.max_dids:
        return -NRC_IMLOIF
    found = 0
    deny = 0
    for i in range(count):
        d = _readable(srv, get_u16(req, 1 + 2 * i))
        if d is not None:
            found += 1
            nrc = srv.access_nrc(d.read)
            if nrc == NRC_AR or (nrc and not deny):
                deny = nrc          # 0x34 ranks before 0x33
    if not found:
        return -NRC_ROOR
    if deny:
        return -deny
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    rsp = srv.rsp
    limit = len(rsp)
    pos = 1
    for i in range(count):
        did = get_u16(req, 1 + 2 * i)
        d = _readable(srv, did)
        if d is None:
            continue
        if pos + 2 + d.length > limit:
            return -NRC_RTL
        put_u16(rsp, pos, did)
        read_did(srv, d, rsp, pos + 2)
        pos += 2 + d.length
    rsp[0] = SID_RDBI + 0x40
    return pos


def _not_writable(did):
    # F180-F182 identification is part of the software (§17.3.2.1); DDDIs
    # cannot be written (§11.7.1)
    return 0xF180 <= did <= 0xF182 or 0xF200 <= did <= 0xF3FF


def _wdbi(srv, now, req, n, functional):
    if n < 4:
        return -NRC_IMLOIF
    did = get_u16(req, 1)
    d = srv.profile.dids.get(did)
    if d is None or d.write is None or _not_writable(did) \
            or not session_ok(d.write.sessions, srv.session):
        return -NRC_ROOR
    if n - 3 != d.length:
        return -NRC_IMLOIF
    nrc = srv.access_nrc(d.write)
    if nrc:
        return -nrc
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    if d.nvm and srv.nvm is not None:
        try:
            srv.nvm.put(d.key, bytes(req[3:n]))     # NVM first: RAM never runs ahead
        except OSError:
            return -NRC_GPF
    val = d.value
    for i in range(d.length):
        val[i] = req[3 + i]
    return write_wdbi_response(srv.rsp, did)


def _rsdbi(srv, now, req, n, functional):
    if n != 3:
        return -NRC_IMLOIF
    did = get_u16(req, 1)
    d = _readable(srv, did)
    if d is None or d.scaling is None:
        return -NRC_ROOR
    nrc = srv.access_nrc(d.read)
    if nrc:
        return -nrc
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    rsp = srv.rsp
    sc = d.scaling
    if 3 + len(sc) > len(rsp):
        return -NRC_RTL
    rsp[0] = SID_RSDBI + 0x40
    put_u16(rsp, 1, did)
    for i in range(len(sc)):
        rsp[3 + i] = sc[i]
    return 3 + len(sc)


SPECS = (
    ServiceSpec(SID_RDBI, _rdbi, min_len=1),
    ServiceSpec(SID_RSDBI, _rsdbi, min_len=1),
    ServiceSpec(SID_WDBI, _wdbi, min_len=1),
)
