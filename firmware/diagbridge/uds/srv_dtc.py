# Server side of ClearDiagnosticInformation (0x14) and ReadDTCInformation
# (0x19), ISO 14229-1 §12.2 / §12.3, on the DTC memory of dtc.py.
#
# The server's general checks (§8.7, uds-digest §3.3) run first from SPECS:
# SID, session, security, then for 0x19 length >= 2, sub-function supported
# (0x12), exact length per sub-function (0x13, from codec_dtc.REQUEST_LAYOUTS).
# What is left here is service specific, in the order of ISO Figure 28 for
# 0x14: length (13), memory selection / groupOfDTC supported (31), conditions
# (22), NVM write (72); for 0x19: data parameters (31), response size (14).
#
# Status bytes are reported masked with DTCStatusAvailabilityMask, and mask
# bits the server does not support are ignored (§12.3.1.3).  Each DTC exists
# once in the memory (dtc.py refuses duplicates), so no response lists a DTC
# twice (§12.3.1.1).  Responses are written in place into srv.rsp: no
# allocation per request.
#
# The store lives at srv.dtc_store (a dtc.DtcStore), built from the profile at
# power-up (on_reset kind 0) or on first use; the application reports test
# results through it (srv.dtc_store.report_test_result(now, code, failed)).
from diagbridge._compat import const
from diagbridge.uds.service import ServiceSpec, SubFunction
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_RTL, NRC_GPF
from diagbridge.uds.dtc import DtcStore
from diagbridge.uds.srv_data import read_did as _read_did
from diagbridge.uds.codec_dtc import (SID_CDTCI, SID_RDTCI, REQUEST_LAYOUTS, request_length,
                                      get_u24, put_dtc_status, RECORD_ALL, RECORD_ALL_OBD)

_RSID_CDTCI = const(0x54)
_RSID_RDTCI = const(0x59)


def store_of(srv):
    """The server's DtcStore, built (and restored from NVM) on first use."""
    st = getattr(srv, "dtc_store", None)
    if st is None:
        prof = srv.profile
        raw = getattr(prof, "raw", None) or {}
        # profile.raw keeps the optional keys dtc.py understands beyond the
        # normalised profile.dtcs (functional_group, stored_data, ...).
        st = DtcStore(raw.get("dtcs") or getattr(prof, "dtcs", None) or [], raw.get("dtc"), srv)
        st.load(getattr(srv, "nvm", None))
        rd = _capture_source(srv)
        st.primary.read_did = rd
        for sel in st.user:
            st.user[sel].read_did = rd
        srv.dtc_store = st
    return st


def _capture_source(srv):
    # Snapshot / stored-data records capture the DIDs' values at the failure
    # through the data module's reader (a DID of another length is skipped).
    def rd(did, out, pos, size):
        dids = getattr(srv.profile, "dids", None)
        d = dids.get(did) if dids else None
        if d is None or d.length != size:
            return False
        _read_did(srv, d, out, pos)
        return True
    return rd


# ---- 0x14 ClearDiagnosticInformation ------------------------------------------
def handle_clear(srv, now, req, n, functional):
    if n != 4 and n != 5:                   # groupOfDTC(3) [MemorySelection(1)]
        return -NRC_IMLOIF
    st = store_of(srv)
    sel = None
    mem = st.primary
    if n == 5:
        sel = req[4]
        mem = st.memory(sel)
        if mem is None:
            return -NRC_ROOR
    group = get_u24(req, 1)
    if not mem.group_supported(group, st.cfg.groups):
        return -NRC_ROOR
    cond = getattr(srv, "conditions_nrc", None)
    nrc = cond(now, req, n) if cond is not None else 0
    if nrc:
        return -nrc                         # e.g. 0x22 conditionsNotCorrect
    mem.clear(group, st.cfg.groups)
    try:
        st.save(getattr(srv, "nvm", None), sel)
    except OSError:
        return -NRC_GPF
    srv.rsp[0] = _RSID_CDTCI
    return 1


# ---- 0x19 ReadDTCInformation ----------------------------------------------------
def _put_dtc_list(mem, rsp, p, mask, avail, which, fgid):
    # {DTC status} of every DTC matching the mask; which: 0 all matching,
    # 1 permanent only.  fgid >= 0 limits to that functional group.
    cap = len(rsp)
    for d in mem.dtcs:
        s = d.status & avail
        if which == 1 and not d.permanent:
            continue
        if fgid >= 0 and d.fgid != fgid:
            continue
        if mask >= 0 and not s & mask:
            continue
        if p + 4 > cap:
            return -1
        p = put_dtc_status(rsp, p, d.code, s)
    return p


def _put_did_record(rsp, p, r):
    # recNum numberOfIdentifiers {DID(2) data}
    k = len(r.dids)
    if p + 2 + 2 * k + len(r.buf) > len(rsp):
        return -1
    rsp[p] = r.number
    rsp[p + 1] = k
    p += 2
    q = 0
    buf = r.buf
    for i in range(k):
        did = r.dids[i]
        rsp[p] = did >> 8
        rsp[p + 1] = did & 0xFF
        p += 2
        for j in range(r.lens[i]):
            rsp[p + j] = buf[q + j]
        p += r.lens[i]
        q += r.lens[i]
    return p


def _put_ext_record(rsp, p, r, with_number):
    size = len(r.buf)
    if p + size + 1 > len(rsp):
        return -1
    if with_number:
        rsp[p] = r.number
        p += 1
    buf = r.buf
    for j in range(size):
        rsp[p + j] = buf[j]
    return p + size


def _snapshot_by_dtc(mem, rsp, p, code, num, avail):
    # 04 / 18: DTC status {record}; FF = every stored record, ascending (§12.3.1.5)
    d = mem.find(code)
    if d is None or (num != RECORD_ALL and not mem.snap_numbers[num]):
        return -NRC_ROOR
    if p + 4 > len(rsp):
        return -NRC_RTL
    p = put_dtc_status(rsp, p, d.code, d.status & avail)
    for r in d.snaps:                      # records are sorted by number
        if r.stored and (num == RECORD_ALL or r.number == num):
            p = _put_did_record(rsp, p, r)
            if p < 0:
                return -NRC_RTL
    return p


def _ext_by_dtc(mem, rsp, p, code, num, avail):
    # 06 / 19: DTC status {recNum data}; FE = OBD records 90-EF, FF = all (§12.3.1.7)
    d = mem.find(code)
    if d is None:
        return -NRC_ROOR
    if num == RECORD_ALL_OBD:
        obd = False
        for i in range(0x90, 0xF0):
            if mem.ext_numbers[i]:
                obd = True
                break
        if not obd:
            return -NRC_ROOR
    elif num != RECORD_ALL and not mem.ext_numbers[num]:
        return -NRC_ROOR
    if p + 4 > len(rsp):
        return -NRC_RTL
    p = put_dtc_status(rsp, p, d.code, d.status & avail)
    for r in d.ext:
        if not r.stored:
            continue
        if num == RECORD_ALL or r.number == num or (
                num == RECORD_ALL_OBD and 0x90 <= r.number <= 0xEF):
            p = _put_ext_record(rsp, p, r, True)
            if p < 0:
                return -NRC_RTL
    return p


def _one(rsp, p, d, avail):
    # 0B-0E: availMask [DTC status]
    if d is None:
        return p
    if p + 4 > len(rsp):
        return -NRC_RTL
    return put_dtc_status(rsp, p, d.code, d.status & avail)


def _has_fgid(mem, fgid, readiness):
    for d in mem.dtcs:
        if d.fgid == fgid and (readiness < 0 or d.readiness == readiness):
            return True
    return False


def handle_read(srv, now, req, n, functional):
    sf = req[1] & 0x7F
    if n != request_length(sf):             # the server checked it; stay safe alone
        return -NRC_IMLOIF
    st = store_of(srv)
    cfg = st.cfg
    avail = cfg.avail
    mem = st.primary
    rsp = srv.rsp
    cap = len(rsp)
    rsp[0] = _RSID_RDTCI
    rsp[1] = sf
    p = 2
    if sf == 0x17 or sf == 0x18 or sf == 0x19:
        mem = st.memory(req[n - 1])         # MemorySelection is the last byte
        if mem is None:
            return -NRC_ROOR
        rsp[2] = req[n - 1]
        p = 3
    if sf == 0x01 or sf == 0x07:
        if sf == 0x01:
            mask = req[2] & avail
            sev = -1
        else:
            sev = req[2]
            mask = req[3] & avail
        count = 0
        for d in mem.dtcs:
            if d.status & mask and (sev < 0 or d.severity & sev):
                count += 1
        rsp[2] = avail
        rsp[3] = cfg.format
        rsp[4] = (count >> 8) & 0xFF
        rsp[5] = count & 0xFF
        return 6
    if sf == 0x02 or sf == 0x0A or sf == 0x15 or sf == 0x17:
        rsp[p] = avail
        if sf == 0x0A:
            mask = -1
        elif sf == 0x15:
            mask = -1
        else:
            mask = req[2] & avail
        p = _put_dtc_list(mem, rsp, p + 1, mask, avail, 1 if sf == 0x15 else 0, -1)
        return p if p > 0 else -NRC_RTL
    if sf == 0x03:
        for d in mem.dtcs:
            for r in d.snaps:
                if r.stored:
                    if p + 4 > cap:
                        return -NRC_RTL
                    p = put_dtc_status(rsp, p, d.code, r.number)
        return p
    if sf == 0x04 or sf == 0x18:
        p = _snapshot_by_dtc(mem, rsp, p, get_u24(req, 2), req[5], avail)
        return p
    if sf == 0x06 or sf == 0x19:
        return _ext_by_dtc(mem, rsp, p, get_u24(req, 2), req[5], avail)
    if sf == 0x05:
        return _stored_by_record(mem, rsp, req[2], avail)
    if sf == 0x08:
        sev = req[2]
        mask = req[3] & avail
        rsp[2] = avail
        p = 3
        for d in mem.dtcs:
            s = d.status & avail
            if s & mask and d.severity & sev:
                if p + 6 > cap:
                    return -NRC_RTL
                rsp[p] = d.severity
                rsp[p + 1] = d.fu
                p = put_dtc_status(rsp, p + 2, d.code, s)
        return p
    if sf == 0x09:
        d = mem.find(get_u24(req, 2))
        if d is None:
            return -NRC_ROOR
        rsp[2] = avail
        rsp[3] = d.severity
        rsp[4] = d.fu
        return put_dtc_status(rsp, 5, d.code, d.status & avail)
    if sf >= 0x0B and sf <= 0x0E:
        rsp[2] = avail
        if sf == 0x0B:
            d = mem.first_failed
        elif sf == 0x0C:
            d = mem.first_confirmed
        elif sf == 0x0D:
            d = mem.recent_failed
        else:
            d = mem.recent_confirmed
        return _one(rsp, 3, d, avail)
    if sf == 0x14:
        for d in mem.dtcs:
            if 0 < d.fdc < 127:             # prefailed, not yet failed (§12.3.1.14)
                if p + 4 > cap:
                    return -NRC_RTL
                p = put_dtc_status(rsp, p, d.code, d.fdc)
        return p
    if sf == 0x16:
        num = req[2]
        if num > 0xEF or not mem.ext_numbers[num]:
            return -NRC_ROOR
        rsp[2] = num
        p = 3
        for d in mem.dtcs:
            for r in d.ext:
                if r.number == num and r.stored:
                    if p + 4 + len(r.buf) > cap:
                        return -NRC_RTL
                    p = put_dtc_status(rsp, p, d.code, d.status & avail)
                    p = _put_ext_record(rsp, p, r, False)
        return p
    if sf == 0x1A:
        num = req[2]
        if num < 0x01 or num > 0xFD or not mem.ext_numbers[num]:
            return -NRC_ROOR
        rsp[2] = avail
        rsp[3] = num
        p = 4
        for d in mem.dtcs:
            for r in d.ext:                 # supported, stored or not (§12.3.1.20)
                if r.number == num:
                    if p + 4 > cap:
                        return -NRC_RTL
                    p = put_dtc_status(rsp, p, d.code, d.status & avail)
        return p
    if sf == 0x42 or sf == 0x55 or sf == 0x56:
        fgid = req[2]
        rg = req[3] if sf == 0x56 else -1
        if not _has_fgid(mem, fgid, rg):
            return -NRC_ROOR
        rsp[2] = fgid
        rsp[3] = avail
        if sf == 0x42:
            mask = req[3] & avail
            sev = req[4]
            rsp[4] = cfg.severity_avail
            rsp[5] = cfg.format
            p = 6
            for d in mem.dtcs:
                s = d.status & avail
                if d.fgid == fgid and s & mask and d.severity & sev:
                    if p + 5 > cap:
                        return -NRC_RTL
                    rsp[p] = d.severity
                    p = put_dtc_status(rsp, p + 1, d.code, s)
            return p
        rsp[4] = cfg.format
        if sf == 0x55:
            p = _put_dtc_list(mem, rsp, 5, -1, avail, 1, fgid)
        else:
            rsp[5] = rg
            p = 6
            for d in mem.dtcs:
                if d.fgid == fgid and d.readiness == rg:
                    if p + 4 > cap:
                        return -NRC_RTL
                    p = put_dtc_status(rsp, p, d.code, d.status & avail)
        return p if p > 0 else -NRC_RTL
    return -NRC_IMLOIF      # unreachable: the spec lists only the layouts above


def _stored_by_record(mem, rsp, num, avail):
    # 05: {recNum DTC status numIds {DID data}}; FF = all, DTC repeated per
    # record; a valid number without data echoes the number only (§12.3.1.6).
    if num != RECORD_ALL and not mem.stored_numbers[num]:
        return -NRC_ROOR
    p = 2
    for k in range(0xFF):
        if not mem.stored_numbers[k] or (num != RECORD_ALL and k != num):
            continue
        for d in mem.dtcs:
            for r in d.stored_data:
                if r.number != k or not r.stored:
                    continue
                # recNum, then DTC status is spliced in after it
                q = _put_did_record(rsp, p + 4, r)
                if q < 0:
                    return -NRC_RTL
                rsp[p] = k
                put_dtc_status(rsp, p + 1, d.code, d.status & avail)
                p = q
    if p == 2:
        rsp[2] = num
        return 3
    return p


def on_reset(srv, now, kind):
    # Power-up or ECUReset: RAM is lost; the memory comes back from NVM.
    st = getattr(srv, "dtc_store", None)
    if st is not None and kind != 0:
        try:
            st.save(getattr(srv, "nvm", None))
        except OSError:
            pass
    srv.dtc_store = None
    store_of(srv)


_SUBS = tuple(SubFunction(sf, exact_len=request_length(sf)) for sf, _lay in REQUEST_LAYOUTS)

SPECS = (
    ServiceSpec(SID_CDTCI, handle_clear, min_len=4, on_reset=on_reset),
    ServiceSpec(SID_RDTCI, handle_read, has_sf=True, min_len=2, sub_functions=_SUBS),
)
