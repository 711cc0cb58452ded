# Server side of ClearDiagnosticInformation (0x14) and ReadDTCInformation
# (0x19), ISO 14229-1 §12.2 / §12.3, on the DTC memory of dtc.py.
#
# The server's general checks (§8.7, uds-digest §3.3) run first from SPECS:
# SID, session, security, then for 0x19 length >= 2, sub-function supported
# (0x12), exact length per sub-function (0x13, from codec/dtc.REQUEST_LAYOUTS).
# What is left here is service specific, in the order of ISO Figure 28 for
# 0x14: length (13), memory selection / groupOfDTC supported (31), conditions
# (22), NVM write (72); for 0x19: data parameters (31), response size (14).
#
# Status bytes are reported masked with DTCStatusAvailabilityMask, and mask
# bits the server does not support are ignored (§12.3.1.3).  Each DTC exists
# once in the memory (dtc.py refuses duplicates), so no response lists a DTC
# twice (§12.3.1.1).  Responses are written in place into srv.rsp: no
# allocation per request; the 0x19 response writers are dtc_read.py's.
#
# The store lives at srv.dtc_store (a dtc.DtcStore), built from the profile at
# power-up (on_reset kind 0) or on first use; the application reports test
# results through it (srv.dtc_store.report_test_result(now, code, failed)).
from diagbridge._compat import const
from diagbridge.uds.server.service import ServiceSpec, SubFunction
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_ROOR, NRC_RTL, NRC_GPF
from diagbridge.uds.server.dtc_memory import DtcStore
from diagbridge.uds.server.services.data import read_did as _read_did
from diagbridge.uds.codec.dtc import (SID_CDTCI, SID_RDTCI, REQUEST_LAYOUTS, request_length,
                                      get_u24, put_dtc_status)
from diagbridge.uds.server.dtc_read import (put_dtc_list, put_ext_record, snapshot_by_dtc, ext_by_dtc,
                                     put_one, has_fgid, stored_by_record)

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
        p = put_dtc_list(mem, rsp, p + 1, mask, avail, 1 if sf == 0x15 else 0, -1)
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
        p = snapshot_by_dtc(mem, rsp, p, get_u24(req, 2), req[5], avail)
        return p
    if sf == 0x06 or sf == 0x19:
        return ext_by_dtc(mem, rsp, p, get_u24(req, 2), req[5], avail)
    if sf == 0x05:
        return stored_by_record(mem, rsp, req[2], avail)
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
        return put_one(rsp, 3, d, avail)
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
                    p = put_ext_record(rsp, p, r, False)
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
        if not has_fgid(mem, fgid, rg):
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
            p = put_dtc_list(mem, rsp, 5, -1, avail, 1, fgid)
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
