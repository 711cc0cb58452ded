# requestDownload 0x34, requestUpload 0x35, transferData 0x36 and
# requestTransferExit 0x37 (ISO 14230-3), run by the UDS transfer machine
# (uds/server/services/transfer.py: the profile's download / upload regions,
# their levels, erase-before-download, the memory store and its NVM commit).
#
#   34 memoryAddress(3) dataFormatIdentifier uncompressedMemorySize(3)
#                                -> 74 maxNumberOfBlockLength
#   35 (same layout)             -> 75 maxNumberOfBlockLength
#   36 data...                   -> 76 [data...]      (upload: the next block)
#   37 [parameters]              -> 77
# KWP's transferData has no block sequence counter: this module keeps one per
# transfer and puts it in the UDS request (1 after 0x34 / 0x35, then +1 mod
# 256), so a block is never taken twice.  maxNumberOfBlockLength counts the
# whole transferData message (SId + data, at most 255 on the K-Line): the
# profile's transfer.max_block_length less the UDS counter byte.
# Refusals: length (the profile's length code), region or data format not
# supported (0x31), security (0x33), a transfer running (0x22), an erase
# required first (0x40 downloadNotAccepted), transferData without a request
# or past the size (0x22), programming failure (0x72 transferAborted).
from diagbridge.uds.nrc import NRC_IMLOIF
from diagbridge.uds.server.service import ServiceSpec, NON_DEFAULT
from diagbridge.uds.server.services import transfer as _uds
from diagbridge.kwp.services.bridge import scratch, final, shift, session_hook
from diagbridge.kwp.sid import SID_RD, SID_RU, SID_TD, SID_RTE


def _uspec(sid):
    for s in _uds.SPECS:
        if s.sid == sid:
            return s
    return None


_URD = _uspec(SID_RD)
_URU = _uspec(SID_RU)
_UTD = _uspec(SID_TD)
_URTE = _uspec(SID_RTE)


def _request(srv, now, req, n, spec, sid):
    if n != 8:
        return -NRC_IMLOIF
    u = scratch(srv)
    u[0] = sid
    u[1] = req[4]               # dataFormatIdentifier
    u[2] = 0x33                 # addressAndLengthFormatIdentifier: 3-byte size, 3-byte address
    for i in range(3):
        u[3 + i] = req[1 + i]
        u[6 + i] = req[5 + i]
    r = spec.handler(srv, now, u, 9, False)
    if not final(r):
        return r
    rsp = srv.rsp
    nb = rsp[1] >> 4
    mbl = 0
    for i in range(nb):
        mbl = (mbl << 8) | rsp[2 + i]
    mbl -= 1                    # no counter byte in KWP's transferData
    if mbl > 0xFF:
        mbl = 0xFF
    rsp[0] = sid + 0x40
    rsp[1] = mbl
    srv.kwp_bsc = 1
    return 2


def _rd(srv, now, req, n, functional):
    return _request(srv, now, req, n, _URD, SID_RD)


def _ru(srv, now, req, n, functional):
    return _request(srv, now, req, n, _URU, SID_RU)


def _td_done(srv, r):
    if final(r):
        srv.kwp_bsc = (srv.kwp_bsc + 1) & 0xFF
        return shift(srv.rsp, r, 1, SID_TD)
    return r


def _td(srv, now, req, n, functional):
    u = scratch(srv)
    if n + 1 > len(u):
        return -NRC_IMLOIF
    u[0] = SID_TD
    u[1] = getattr(srv, "kwp_bsc", 1)
    for i in range(1, n):
        u[1 + i] = req[i]
    return _td_done(srv, _UTD.handler(srv, now, u, n + 1, False))


def _td_resume(srv, now):
    return _td_done(srv, _UTD.resume(srv, now))


def _rte(srv, now, req, n, functional):
    return _URTE.handler(srv, now, req, n, functional)


SPECS = (
    ServiceSpec(SID_RD, _rd, min_len=1, sessions=NON_DEFAULT,
                on_session=session_hook(_URD.on_session), on_reset=_URD.on_reset,
                on_build=_URD.on_build),
    ServiceSpec(SID_RU, _ru, min_len=1, sessions=NON_DEFAULT),
    ServiceSpec(SID_TD, _td, min_len=1, sessions=NON_DEFAULT, resume=_td_resume,
                deadline=_UTD.deadline),
    ServiceSpec(SID_RTE, _rte, min_len=1, sessions=NON_DEFAULT, resume=_URTE.resume,
                deadline=_URTE.deadline),
)
