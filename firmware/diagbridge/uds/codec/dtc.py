# ClearDiagnosticInformation (0x14) and ReadDTCInformation (0x19) layouts,
# ISO 14229-1 §12.2 / §12.3 (the byte tables are missing from the source
# text; layouts per ISO 14229-1:2020 as in uds-digest §8.2, cross-checked
# with py-uds and udsoncan).  Written once, used by both roles:
#   server: REQUEST_LAYOUTS / request_length() for the exact length checks,
#           get_u24 / put_u24 / put_dtc_status to read requests and write
#           responses in place (no allocation);
#   client: build_clear_dtc_request, build_read_dtc_request (into the
#           caller's buffer) and parse_read_dtc_response -> plain dict
#           (CPython-friendly; allocates).
from diagbridge._compat import const
from diagbridge.errors import UsageError
from diagbridge.uds.codec.ints import get_u24, put_u24

SID_CDTCI = const(0x14)
SID_RDTCI = const(0x19)
_SID_NR = const(0x7F)

# ReadDTCInformation sub-functions (Table 317, values [K]).
SF_RNODTCBSM = const(0x01)      # reportNumberOfDTCByStatusMask
SF_RDTCBSM = const(0x02)        # reportDTCByStatusMask
SF_RDTCSSI = const(0x03)        # reportDTCSnapshotIdentification
SF_RDTCSSBDTC = const(0x04)     # reportDTCSnapshotRecordByDTCNumber
SF_RDTCSDBRN = const(0x05)      # reportDTCStoredDataByRecordNumber
SF_RDTCEDRBDN = const(0x06)     # reportDTCExtDataRecordByDTCNumber
SF_RNODTCBSMR = const(0x07)     # reportNumberOfDTCBySeverityMaskRecord
SF_RDTCBSMR = const(0x08)       # reportDTCBySeverityMaskRecord
SF_RSIODTC = const(0x09)        # reportSeverityInformationOfDTC
SF_RSUPDTC = const(0x0A)        # reportSupportedDTC
SF_RFTFDTC = const(0x0B)        # reportFirstTestFailedDTC
SF_RFCDTC = const(0x0C)         # reportFirstConfirmedDTC
SF_RMRTFDTC = const(0x0D)       # reportMostRecentTestFailedDTC
SF_RMRCDTC = const(0x0E)        # reportMostRecentConfirmedDTC
SF_RDTCFDC = const(0x14)        # reportDTCFaultDetectionCounter
SF_RDTCWPS = const(0x15)        # reportDTCWithPermanentStatus
SF_RDTCEDBR = const(0x16)       # reportDTCExtDataRecordByRecordNumber
SF_RUDMDTCBSM = const(0x17)     # reportUserDefMemoryDTCByStatusMask
SF_RUDMDTCSSBDTC = const(0x18)  # reportUserDefMemoryDTCSnapshotRecordByDTCNumber
SF_RUDMDTCEDRBDN = const(0x19)  # reportUserDefMemoryDTCExtDataRecordByDTCNumber
SF_RDTCEDI = const(0x1A)        # reportSupportedDTCExtDataRecord (2020)
SF_RWWHOBDDTCBMR = const(0x42)  # reportWWHOBDDTCByMaskRecord
SF_RWWHOBDDTCWPS = const(0x55)  # reportWWHOBDDTCWithPermanentStatus
SF_RDTCBRGI = const(0x56)       # reportDTCInformationByDTCReadinessGroupIdentifier (2020)

# statusOfDTC bits (Annex D.2; positions [K], uds-digest §8.3).
TF = const(0x01)        # testFailed
TFTOC = const(0x02)     # testFailedThisOperationCycle
PDTC = const(0x04)      # pendingDTC
CDTC = const(0x08)      # confirmedDTC
TNCSLC = const(0x10)    # testNotCompletedSinceLastClear
TFSLC = const(0x20)     # testFailedSinceLastClear
TNCTOC = const(0x40)    # testNotCompletedThisOperationCycle
WIR = const(0x80)       # warningIndicatorRequested

# The status bits' names (Annex D.2), low bit first; for display, never the hot path.
STATUS_BITS = ((TF, "testFailed"), (TFTOC, "testFailedThisOperationCycle"),
               (PDTC, "pendingDTC"), (CDTC, "confirmedDTC"),
               (TNCSLC, "testNotCompletedSinceLastClear"),
               (TFSLC, "testFailedSinceLastClear"),
               (TNCTOC, "testNotCompletedThisOperationCycle"),
               (WIR, "warningIndicatorRequested"))


def status_names(status):
    return tuple(name for bit, name in STATUS_BITS if status & bit)


def dtc_text(code):
    """The SAE J2012 form of a 3-byte DTC: P0101-00 (high 2 bytes + failure type byte)."""
    return "%s%04X-%02X" % ("PCBU"[(code >> 22) & 3], (code >> 8) & 0x3FFF, code & 0xFF)

GROUP_ALL = const(0xFFFFFF)         # groupOfDTC: all groups (D.1 [K])
GROUP_EMISSIONS = const(0xFFFF33)
GROUP_SAFETY = const(0xFFFFD0)
GROUP_VOBD = const(0xFFFFFE)
RECORD_ALL = const(0xFF)            # snapshot / stored / extended record: all
RECORD_ALL_OBD = const(0xFE)        # extended records 0x90-0xEF (§12.3.1.7)

# Request parameters after `19 SF`, one letter per field:
#   m DTCStatusMask(1)  v DTCSeverityMask(1)  d DTC(3)  r record number(1)
#   M MemorySelection(1)  g FunctionalGroupIdentifier(1)
#   R DTCReadinessGroupIdentifier(1)
# 0x42 is FGID, status mask, severity mask (udsoncan and py-uds agree; the
# ISO table is missing, uds-digest §13 #20).  0x0F-0x13 (mirror memory, OBD)
# were withdrawn in 2020 and are absent on purpose.
REQUEST_LAYOUTS = (
    (0x01, "m"), (0x02, "m"), (0x03, ""), (0x04, "dr"), (0x05, "r"), (0x06, "dr"),
    (0x07, "vm"), (0x08, "vm"), (0x09, "d"), (0x0A, ""), (0x0B, ""), (0x0C, ""),
    (0x0D, ""), (0x0E, ""), (0x14, ""), (0x15, ""), (0x16, "r"), (0x17, "mM"),
    (0x18, "drM"), (0x19, "drM"), (0x1A, "r"), (0x42, "gmv"), (0x55, "g"), (0x56, "gR"),
)


def _layout(sf):
    for s, lay in REQUEST_LAYOUTS:
        if s == sf:
            return lay
    return None


def _lengths():
    t = bytearray(128)
    for sf, lay in REQUEST_LAYOUTS:
        n = 2
        for c in lay:
            n += 3 if c == "d" else 1
        t[sf] = n
    return t


_LENGTHS = _lengths()


def request_length(sf):
    """Exact length of a `19 sf ...` request, or -1 if sf has no layout."""
    n = _LENGTHS[sf & 0x7F]
    return n if n else -1


def put_dtc_status(out, pos, code, status):
    """DTCAndStatusRecord: DTC(3) statusOfDTC(1); returns the next position."""
    out[pos] = (code >> 16) & 0xFF
    out[pos + 1] = (code >> 8) & 0xFF
    out[pos + 2] = code & 0xFF
    out[pos + 3] = status
    return pos + 4


# ---- client: requests -------------------------------------------------------
def build_clear_dtc_request(out, group=GROUP_ALL, memory_selection=None):
    """`14 groupOfDTC(3) [MemorySelection(1)]` (§12.2.2) -> length."""
    if not 0 <= group <= 0xFFFFFF:
        raise UsageError("group")
    n = 4 if memory_selection is None else 5
    if len(out) < n:
        raise UsageError("buffer too small")
    out[0] = SID_CDTCI
    put_u24(out, 1, group)
    if memory_selection is not None:
        out[4] = memory_selection & 0xFF
    return n


def build_read_dtc_request(out, sf, status_mask=0xFF, dtc=0, record=RECORD_ALL,
                           severity_mask=0xFF, memory_selection=0, fgid=0x33,
                           readiness_group=0, suppress=False):
    """`19 sf ...` with the fields sf takes (REQUEST_LAYOUTS) -> length."""
    lay = _layout(sf & 0x7F)
    if lay is None:
        raise UsageError("sub-function")
    n = request_length(sf)
    if len(out) < n:
        raise UsageError("buffer too small")
    out[0] = SID_RDTCI
    out[1] = (sf & 0x7F) | (0x80 if suppress else 0)
    p = 2
    for c in lay:
        if c == "d":
            p = put_u24(out, p, dtc)
            continue
        if c == "m":
            v = status_mask
        elif c == "v":
            v = severity_mask
        elif c == "r":
            v = record
        elif c == "M":
            v = memory_selection
        elif c == "g":
            v = fgid
        else:
            v = readiness_group
        out[p] = v & 0xFF
        p += 1
    return n


# ---- client: responses ------------------------------------------------------
def _dtc_list(data, p, n, size):
    # {DTC(3) status(1)} (size 4) or {severity FU DTC status} (size 6) or
    # {severity DTC status} (size 5).
    out = []
    while p + size <= n:
        if size == 4:
            out.append((get_u24(data, p), data[p + 3]))
        elif size == 5:
            out.append((data[p], get_u24(data, p + 1), data[p + 4]))
        else:
            out.append((data[p], data[p + 1], get_u24(data, p + 2), data[p + 5]))
        p += size
    return out if p == n else None


def _did_records(data, p, n, count, did_len):
    # count x {DID(2) data}; a DID missing from did_len takes the rest of the
    # message, which is right for the last DID of the last record.
    rec = {}
    for _ in range(count):
        if p + 2 > n:
            return None, p
        did = (data[p] << 8) | data[p + 1]
        p += 2
        size = did_len.get(did, n - p) if did_len else n - p
        if p + size > n:
            return None, p
        rec[did] = bytes(data[p:p + size])
        p += size
    return rec, p


def _snapshots(data, p, n, did_len):
    snaps = []
    while p < n:
        if p + 2 > n:
            return None
        num = data[p]
        rec, p = _did_records(data, p + 2, n, data[p + 1], did_len)
        if rec is None:
            return None
        snaps.append((num, rec))
    return snaps


def _ext_records(data, p, n, ext_len):
    recs = []
    while p < n:
        num = data[p]
        p += 1
        size = ext_len.get(num, n - p) if ext_len else n - p
        if p + size > n:
            return None
        recs.append((num, bytes(data[p:p + size])))
        p += size
    return recs


def parse_read_dtc_response(data, n, did_len=None, ext_len=None):
    """Decode a 0x19 response (59 ... or 7F 19 NRC) into a dict; None if it
    is malformed.  did_len {DID: size} and ext_len {record: size} give the
    record sizes the layout does not carry (needed only when several DIDs or
    records follow each other).  Keys by sub-function:
      all: "sf" (or "nrc" for 7F 19 NRC)
      01/07: availability_mask, format, count
      02/0A/0B-0E/15: availability_mask, dtcs [(code, status)]
      03: records [(code, record_number)]
      04: dtc (code, status), snapshots [(record_number, {did: bytes})]
      05: records [(record_number, (code, status) | None, {did: bytes})]
      06: dtc (code, status), ext [(record_number, bytes)]
      08/09: availability_mask, dtcs [(severity, functional_unit, code, status)]
      14: dtcs [(code, fault_detection_counter -128..127)]
      16: record, dtcs [(code, status, bytes)]
      17: memory, availability_mask, dtcs;  18: memory, dtc, snapshots;
      19: memory, dtc, ext
      1A: availability_mask, record (None if empty), dtcs
      42: fgid, availability_mask, severity_availability_mask, format,
          dtcs [(severity, code, status)]
      55: fgid, availability_mask, format, dtcs
      56: fgid, availability_mask, format, readiness_group, dtcs
    """
    if n >= 3 and data[0] == _SID_NR and data[1] == SID_RDTCI:
        return {"nrc": data[2]} if n == 3 else None
    if n < 2 or data[0] != SID_RDTCI + 0x40:
        return None
    sf = data[1]
    r = {"sf": sf}
    if sf in (0x01, 0x07):
        if n != 6:
            return None
        r["availability_mask"] = data[2]
        r["format"] = data[3]
        r["count"] = (data[4] << 8) | data[5]
        return r
    if sf in (0x02, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x15, 0x08, 0x09):
        if n < 3:
            return None
        r["availability_mask"] = data[2]
        lst = _dtc_list(data, 3, n, 6 if sf in (0x08, 0x09) else 4)
        if lst is None:
            return None
        r["dtcs"] = lst
        return r
    if sf in (0x03, 0x14):
        lst = _dtc_list(data, 2, n, 4)
        if lst is None:
            return None
        if sf == 0x03:
            r["records"] = lst
        else:
            r["dtcs"] = [(c, v - 256 if v > 127 else v) for c, v in lst]
        return r
    p = 2
    if sf in (0x17, 0x18, 0x19):
        if n < 3:
            return None
        r["memory"] = data[2]
        p = 3
        if sf == 0x17:
            if n < 4:
                return None
            r["availability_mask"] = data[3]
            lst = _dtc_list(data, 4, n, 4)
            if lst is None:
                return None
            r["dtcs"] = lst
            return r
    if sf in (0x04, 0x06, 0x18, 0x19):
        if p + 4 > n:
            return None
        r["dtc"] = (get_u24(data, p), data[p + 3])
        if sf in (0x04, 0x18):
            s = _snapshots(data, p + 4, n, did_len)
            key = "snapshots"
        else:
            s = _ext_records(data, p + 4, n, ext_len)
            key = "ext"
        if s is None:
            return None
        r[key] = s
        return r
    if sf == 0x05:
        recs = []
        while p < n:
            num = data[p]
            if p + 1 == n:              # valid record number without data: echo only
                recs.append((num, None, {}))
                p += 1
                break
            if p + 6 > n:
                return None
            dtc = (get_u24(data, p + 1), data[p + 4])
            rec, p = _did_records(data, p + 6, n, data[p + 5], did_len)
            if rec is None:
                return None
            recs.append((num, dtc, rec))
        r["records"] = recs
        return r
    if sf == 0x16:
        if n < 3:
            return None
        num = data[2]
        r["record"] = num
        lst = []
        p = 3
        size = ext_len.get(num, -1) if ext_len else -1
        while p < n:
            if p + 4 > n:
                return None
            sz = size if size >= 0 else n - p - 4
            if p + 4 + sz > n:
                return None
            lst.append((get_u24(data, p), data[p + 3], bytes(data[p + 4:p + 4 + sz])))
            p += 4 + sz
        r["dtcs"] = lst
        return r
    if sf == 0x1A:
        if n < 3:
            return None
        r["availability_mask"] = data[2]
        r["record"] = data[3] if n > 3 else None
        lst = _dtc_list(data, 4, n, 4) if n > 3 else []
        if lst is None:
            return None
        r["dtcs"] = lst
        return r
    if sf in (0x42, 0x55, 0x56):
        head = 5 if sf == 0x55 else 6
        if n < head:
            return None
        r["fgid"] = data[2]
        r["availability_mask"] = data[3]
        if sf == 0x42:
            r["severity_availability_mask"] = data[4]
            r["format"] = data[5]
            lst = _dtc_list(data, 6, n, 5)
        else:
            r["format"] = data[4]
            if sf == 0x56:
                r["readiness_group"] = data[5]
            lst = _dtc_list(data, head, n, 4)
        if lst is None:
            return None
        r["dtcs"] = lst
        return r
    return None


def parse_clear_dtc_response(data, n):
    """0 for `54`, the NRC for `7F 14 NRC`, -1 for anything else."""
    if n == 1 and data[0] == SID_CDTCI + 0x40:
        return 0
    if n == 3 and data[0] == _SID_NR and data[1] == SID_CDTCI:
        return data[2]
    return -1
