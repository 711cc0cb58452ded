# Server side of DynamicallyDefineDataIdentifier 0x2C (§11.6, uds-digest
# §10.5).  A defined DDDID (0xF200-0xF3FF) becomes a DID of the profile whose
# live source "dddid" concatenates its elements in definition order (source
# DID bytes or memory bytes, read when the DDDID is read), so 0x22 and 0x2A
# read it through the framework's DID path (srv_data.read_did).  Its read
# access is the conjunction of its elements' read access, evaluated at read
# time (_ReadAccess): a source not readable in the active session makes the
# DDDID unreadable (0x31), a locked source 0x33, authentication 0x34.
#
# Profile section (optional):
#   dddid: {"max_dddids": 8, "max_length": 64, "max_elements": 16,
#           "clear_on_default": True}
# Lifetime (VM-specific, §11.6.1): definitions live in RAM; they are cleared
# on every transition into the default session (DSC 01, S3 timeout) unless
# clear_on_default is False, and always on reset/power-up.  A static profile
# DID in the DDDID range cannot be redefined (0x31); clearing it is
# answered positively and changes nothing (§11.6.1).
#
# Check order after §8.7's SF checks (Fig 26 is missing; [K?]):
#   01: length 4 + 4k, k >= 1 -> 13; DDDID in range, not static -> 31;
#       elements > max_elements -> 31; each source DID readable in the
#       active session, not a DDDID, position/size inside it -> 31;
#       authentication -> 34; security -> 33; the result longer than
#       max_length (overrun: definition kept as it was) or more DDDIDs than
#       max_dddids -> 31; conditions -> 22.
#   02: length >= 5 -> 13; ALFID -> 31; length 5 + k * fields -> 13; then as
#       01 with memory regions readable in the active session.
#   03: length 2 or 4 -> 13; DDDID in range -> 31; conditions -> 22.
from diagbridge._compat import const
from diagbridge.errors import ConfigError
from diagbridge.uds.codec.data import get_u16
from diagbridge.uds.codec.dddid import (DEFINE_BY_IDENTIFIER, DEFINE_BY_MEMORY_ADDRESS,
                                        CLEAR_DDDID, is_dddid, memory_element,
                                        write_dddid_response)
from diagbridge.uds.codec.memory import alfid_valid
from diagbridge.uds.server.config import session_ok, level_ok, auth_ok, DEFAULT_SESSION
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_AR, NRC_SAD
from diagbridge.uds.server.profile import Did
from diagbridge.uds.server.service import ServiceSpec, SubFunction
from diagbridge.uds.sid import SID_DDDI
from diagbridge.uds.server.services.data import read_did
from diagbridge.uds.server.services.memory import find_region

SOURCE = "dddid"
_K_DID = const(0)
_K_MEM = const(1)


def _int(raw, k, default, lo, hi):
    v = raw.get(k, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("dddid." + k)
    return v


class _ReadAccess:
    """A DDDID's read access: every element's, checked when it is read."""

    def __init__(self, srv, dd):
        self._srv = srv
        self._dd = dd

    @property
    def sessions(self):
        el = self._dd.elems
        s = self._srv.session
        for i in range(len(el)):
            if not session_ok(el[i][1].read.sessions, s):
                return ()               # readable in no session: 0x31
        return None

    @property
    def auth(self):
        el = self._dd.elems
        role = self._srv.auth_role
        for i in range(len(el)):
            a = el[i][1].read.auth
            if not auth_ok(a, role):
                return a
        return False

    @property
    def levels(self):
        el = self._dd.elems
        lv = self._srv.level
        for i in range(len(el)):
            ls = el[i][1].read.levels
            if not level_ok(ls, lv):
                return ls
        return ()


class Dddid:
    def __init__(self, srv, did, max_length):
        self.elems = []             # (kind, Did | Region, offset, size)
        self.length = 0
        self.buf = bytearray(max_length)
        self.did = Did(did, {"length": 1, "live": SOURCE}, "dddid")
        self.did.read = _ReadAccess(srv, self)


class DddidContext:
    def __init__(self, srv):
        raw = getattr(srv.profile, "raw", None) or {}
        c = raw.get("dddid") or {}
        if not isinstance(c, dict):
            raise ConfigError("dddid")
        self.max_dddids = _int(c, "max_dddids", 8, 1, 0x200)
        self.max_length = _int(c, "max_length", 64, 1, 4093)
        self.max_elements = _int(c, "max_elements", 16, 1, 255)
        self.clear_on_default = c.get("clear_on_default", True) is not False
        self.defs = {}
        m = self.max_length
        dids = srv.profile.dids
        for k in dids:
            if dids[k].length > m:
                m = dids[k].length
        self.scratch = bytearray(m)     # a source DID's record
        self.srv = srv

    def clear(self, did):
        dd = self.defs.get(did)
        if dd is not None:
            del self.defs[did]
            if self.srv.profile.dids.get(did) is dd.did:
                del self.srv.profile.dids[did]

    def clear_all(self):
        if self.defs:
            for did in list(self.defs):
                self.clear(did)


def _source(srv, did):
    """The "dddid" live source: the concatenated record."""
    dd = srv.uds_dddid.defs[did]
    out = dd.buf
    sc = srv.uds_dddid.scratch
    p = 0
    el = dd.elems
    for i in range(len(el)):
        kind, obj, off, size = el[i]
        if kind == _K_DID:
            read_did(srv, obj, sc, 0)
            src = sc
        else:
            src = obj.data
        for j in range(size):
            out[p + j] = src[off + j]
        p += size
    return out


def _build(srv):
    srv.uds_dddid = DddidContext(srv)
    srv.profile.sources[SOURCE] = _source


def _definable(srv, did):
    """In the DDDID range and not a static DID of the profile."""
    d = srv.profile.dids.get(did)
    return is_dddid(did) and (d is None or d.source == SOURCE)


def _define(srv, now, req, n, by_mem):
    ctx = srv.uds_dddid
    if by_mem:
        if n < 5:
            return -NRC_IMLOIF
        a = req[4]
        if not alfid_valid(a):
            return -NRC_ROOR
        f = (a & 0x0F) + (a >> 4)
        k = (n - 5) // f
        if n == 5 or (n - 5) % f:
            return -NRC_IMLOIF
    else:
        k = (n - 4) >> 2
        if n < 8 or (n - 4) & 3:
            return -NRC_IMLOIF
    did = get_u16(req, 2)
    if not _definable(srv, did):
        return -NRC_ROOR
    dd = ctx.defs.get(did)
    have = 0 if dd is None else len(dd.elems)
    if have + k > ctx.max_elements:
        return -NRC_ROOR
    sess = srv.session
    add = 0
    for i in range(k):              # every element supported, in this session
        if by_mem:
            addr, size = memory_element(req, 5 + i * f, a)
            r = find_region(srv.profile, addr, size)
            if r is None or r.read is None or not session_ok(r.read.sessions, sess):
                return -NRC_ROOR
        else:
            p = 4 + 4 * i
            src = srv.profile.dids.get(get_u16(req, p))
            pos = req[p + 2]
            size = req[p + 3]
            if src is None or is_dddid(src.did) or src.source == SOURCE \
                    or not session_ok(src.read.sessions, sess) \
                    or pos < 1 or size < 1 or pos - 1 + size > src.length \
                    or src.length > len(ctx.scratch):
                return -NRC_ROOR
        add += size
    deny = 0
    for i in range(k):              # then their access (34 before 33)
        if by_mem:
            addr, size = memory_element(req, 5 + i * f, a)
            acc = find_region(srv.profile, addr, size).read
        else:
            acc = srv.profile.dids.get(get_u16(req, 4 + 4 * i)).read
        nrc = srv.access_nrc(acc)
        if nrc == NRC_AR or (nrc and not deny):
            deny = nrc
    if deny:
        return -deny
    length = (0 if dd is None else dd.length) + add
    if length > ctx.max_length or (dd is None and len(ctx.defs) >= ctx.max_dddids):
        return -NRC_ROOR            # overrun: the definition stays as it was
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    if dd is None:
        dd = Dddid(srv, did, ctx.max_length)
        ctx.defs[did] = dd
        srv.profile.dids[did] = dd.did
    for i in range(k):
        if by_mem:
            addr, size = memory_element(req, 5 + i * f, a)
            r = find_region(srv.profile, addr, size)
            dd.elems.append((_K_MEM, r, addr - r.start, size))
        else:
            p = 4 + 4 * i
            dd.elems.append((_K_DID, srv.profile.dids.get(get_u16(req, p)), req[p + 2] - 1,
                             req[p + 3]))
    dd.length = length
    dd.did.length = length
    return write_dddid_response(srv.rsp, req[1], did)


def _handle(srv, now, req, n, functional):
    sf = req[1] & 0x7F
    if sf == DEFINE_BY_IDENTIFIER:
        return _define(srv, now, req, n, False)
    if sf == DEFINE_BY_MEMORY_ADDRESS:
        return _define(srv, now, req, n, True)
    # clearDynamicallyDefinedDataIdentifier: positive for any DDDID in range
    if n != 2 and n != 4:
        return -NRC_IMLOIF
    did = get_u16(req, 2) if n == 4 else -1
    if n == 4 and not is_dddid(did):
        return -NRC_ROOR
    nrc = srv.conditions_nrc(now, req, n)
    if nrc:
        return -nrc
    ctx = srv.uds_dddid
    if n == 4:
        ctx.clear(did)
    else:
        ctx.clear_all()
    return write_dddid_response(srv.rsp, sf, did)


def _on_session(srv, now, old, new):
    ctx = srv.uds_dddid
    if new == DEFAULT_SESSION and ctx.clear_on_default:
        ctx.clear_all()


def _on_reset(srv, now, kind):
    srv.uds_dddid.clear_all()


SPECS = (
    ServiceSpec(SID_DDDI, _handle, has_sf=True, min_len=2,
                sub_functions=(SubFunction(DEFINE_BY_IDENTIFIER),
                               SubFunction(DEFINE_BY_MEMORY_ADDRESS),
                               SubFunction(CLEAR_DDDID)),
                on_build=_build, on_session=_on_session, on_reset=_on_reset),
)
