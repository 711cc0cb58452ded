# The ReadDTCInformation (0x19) response writers of srv_dtc.py (ISO 14229-1
# §12.3): each writes into rsp in place from position p and returns the new
# position, -1 (the next item does not fit) or -NRC (0x31 unknown DTC or
# record number, 0x14 response too long).  Status bytes are masked with the
# DTCStatusAvailabilityMask `avail`; records are dtc_record.Record.  Nothing
# here allocates (0x19 reads run under heap_lock in tests/core/test_uds_dtc).
from diagbridge.uds.nrc import NRC_ROOR, NRC_RTL
from diagbridge.uds.codec.dtc import put_dtc_status, RECORD_ALL, RECORD_ALL_OBD


def put_dtc_list(mem, rsp, p, mask, avail, which, fgid):
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


def put_did_record(rsp, p, r):
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


def put_ext_record(rsp, p, r, with_number):
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


def snapshot_by_dtc(mem, rsp, p, code, num, avail):
    # 04 / 18: DTC status {record}; FF = every stored record, ascending (§12.3.1.5)
    d = mem.find(code)
    if d is None or (num != RECORD_ALL and not mem.snap_numbers[num]):
        return -NRC_ROOR
    if p + 4 > len(rsp):
        return -NRC_RTL
    p = put_dtc_status(rsp, p, d.code, d.status & avail)
    for r in d.snaps:                      # records are sorted by number
        if r.stored and (num == RECORD_ALL or r.number == num):
            p = put_did_record(rsp, p, r)
            if p < 0:
                return -NRC_RTL
    return p


def ext_by_dtc(mem, rsp, p, code, num, avail):
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
            p = put_ext_record(rsp, p, r, True)
            if p < 0:
                return -NRC_RTL
    return p


def put_one(rsp, p, d, avail):
    # 0B-0E: availMask [DTC status]
    if d is None:
        return p
    if p + 4 > len(rsp):
        return -NRC_RTL
    return put_dtc_status(rsp, p, d.code, d.status & avail)


def has_fgid(mem, fgid, readiness):
    for d in mem.dtcs:
        if d.fgid == fgid and (readiness < 0 or d.readiness == readiness):
            return True
    return False


def stored_by_record(mem, rsp, num, avail):
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
                q = put_did_record(rsp, p + 4, r)
                if q < 0:
                    return -NRC_RTL
                rsp[p] = k
                put_dtc_status(rsp, p + 1, d.code, d.status & avail)
                p = q
    if p == 2:
        rsp[2] = num
        return 3
    return p
