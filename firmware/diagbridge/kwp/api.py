# Typed KWP2000 (ISO 14230-3) requests and answers for the tester: a builder
# per service (-> bytes, the request data field with its SId) and decode()
# for the answer KwpClient collected.  Not a hot path: these allocate, as
# uds/client/api.py does.
#
#   req = api.read_local(0x01)                  -> b"\x21\x01"
#   ... client.request(now, req, len(req)); on EV_DONE:
#   val = api.decode(req, client.response, client.length)
#
# decode() returns None when the answer does not fit the request's layout
# (the wrong SId, a short or long answer) and raises nothing for a peer's bytes.
# A negative answer decodes to Negative(sid, rc) with its ISO 14230-3 name.
from diagbridge.kwp import sid as S
from diagbridge.kwp.nrc import rc_name
from diagbridge.errors import UsageError


def _b(*parts):
    out = bytearray()
    for p in parts:
        if isinstance(p, int):
            if not 0 <= p <= 0xFF:
                raise UsageError("byte value out of range")
            out.append(p)
        else:
            out.extend(p)
    return bytes(out)


def _u(v, k, what):
    if not isinstance(v, int) or not 0 <= v < (1 << (8 * k)):
        raise UsageError(what + " out of range")
    return bytes((v >> (8 * (k - 1 - i))) & 0xFF for i in range(k))


# ---- builders -------------------------------------------------------------------------
def start_session(mode=S.SDS_STANDARD):
    return _b(S.SID_SDS, mode)


def stop_session():
    return _b(S.SID_SPDS)


def ecu_reset(mode=0x01):
    return _b(S.SID_ER, mode)


def tester_present(response=True):
    return _b(S.SID_TP, S.TP_RESPONSE if response else S.TP_NO_RESPONSE)


def request_seed(mode=0x01):
    if not mode & 1:
        raise UsageError("requestSeed accessMode is odd")
    return _b(S.SID_SA, mode)


def send_key(mode, key):
    if mode & 1:
        raise UsageError("sendKey accessMode is even")
    return _b(S.SID_SA, mode, key)


def read_ecu_id(option):
    return _b(S.SID_REI, option)


def read_local(lid):
    return _b(S.SID_RDBLI, lid)


def read_common(cid):
    return _b(S.SID_RDBCI, _u(cid, 2, "common identifier"))


def write_local(lid, data):
    return _b(S.SID_WDBLI, lid, data)


def write_common(cid, data):
    return _b(S.SID_WDBCI, _u(cid, 2, "common identifier"), data)


def io_control(lid, iocp, state=b""):
    return _b(S.SID_IOCBLI, lid, iocp, state)


def read_dtc_by_status(status=S.DTC_REQ_IDENTIFIED_HEX, group=S.GROUP_ALL):
    return _b(S.SID_RDTCBS, status, _u(group, 2, "groupOfDTC"))


def read_dtc_status(group):
    return _b(S.SID_RSODTC, _u(group, 2, "groupOfDTC"))


def clear_dtc(group=S.GROUP_ALL):
    return _b(S.SID_CDI, _u(group, 2, "groupOfDTC"))


def start_routine(lid, option=b""):
    return _b(S.SID_STRBLI, lid, option)


def stop_routine(lid):
    return _b(S.SID_SPRBLI, lid)


def routine_results(lid):
    return _b(S.SID_RRRBLI, lid)


def request_download(addr, size, dfi=0x00):
    return _b(S.SID_RD, _u(addr, 3, "memoryAddress"), dfi, _u(size, 3, "memorySize"))


def request_upload(addr, size, dfi=0x00):
    return _b(S.SID_RU, _u(addr, 3, "memoryAddress"), dfi, _u(size, 3, "memorySize"))


def transfer_data(data=b""):
    return _b(S.SID_TD, data)


def transfer_exit(params=b""):
    return _b(S.SID_RTE, params)


# ---- answers ----------------------------------------------------------------------------
class Negative:
    def __init__(self, sid, rc):
        self.sid = sid
        self.rc = rc
        self.name = rc_name(rc)

    def __repr__(self):
        return "Negative(0x%02X, 0x%02X %s)" % (self.sid, self.rc, self.name)


def dtc_name(code):
    """The 2-byte DTC as its letter form: 0x0115 -> P0115, 0x4035 -> C0035."""
    return "PCBU"[code >> 14] + "%04X" % (code & 0x3FFF)


def _dtcs(d, n):
    if n < 2 or (n - 2) % 3 or d[1] != (n - 2) // 3:
        return None
    return [((d[2 + 3 * i] << 8) | d[3 + 3 * i], d[4 + 3 * i]) for i in range(d[1])]


def decode(req, data, n):
    """The answer data[0:n] to request `req`, as plain values (None if it
    does not fit)."""
    if n < 1 or not req:
        return None
    sid = req[0]
    d = bytes(data[0:n])
    if d[0] == S.SID_NR:
        return Negative(d[1], d[2]) if n == 3 and d[1] == sid else None
    if d[0] != (sid + 0x40) & 0xFF:
        return None
    if sid in (S.SID_SPDS, S.SID_TP, S.SID_RTE):
        return True if n == 1 or sid == S.SID_RTE else None
    if sid == S.SID_SDS or sid == S.SID_ER:
        return d[1] if n == 2 and d[1] == req[1] else None
    if sid == S.SID_SA:
        if n < 2 or d[1] != req[1]:
            return None
        return d[2:] if req[1] & 1 else True
    if sid in (S.SID_REI, S.SID_RDBLI):
        return d[2:] if n >= 2 and d[1] == req[1] else None
    if sid == S.SID_RDBCI:
        return d[3:] if n >= 3 and d[1:3] == bytes(req[1:3]) else None
    if sid == S.SID_WDBLI:
        return True if n == 2 and d[1] == req[1] else None
    if sid == S.SID_WDBCI:
        return True if n == 3 and d[1:3] == bytes(req[1:3]) else None
    if sid == S.SID_IOCBLI:
        return d[3:] if n >= 3 and d[1] == req[1] and d[2] == req[2] else None
    if sid in (S.SID_RDTCBS, S.SID_RSODTC):
        return _dtcs(d, n)
    if sid == S.SID_CDI:
        return (d[1] << 8) | d[2] if n == 3 else None
    if sid in (S.SID_STRBLI, S.SID_SPRBLI, S.SID_RRRBLI):
        return d[2:] if n >= 2 and d[1] == req[1] else None
    if sid == S.SID_RD or sid == S.SID_RU:
        return d[1] if n == 2 else None
    if sid == S.SID_TD:
        return d[1:]
    return d[1:]
