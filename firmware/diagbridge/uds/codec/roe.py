# ResponseOnEvent (0x86) layouts, ISO 14229-1 §10.9 (tables 138-147 are
# missing from the source; layouts per ISO 14229-1:2020 as in uds-digest
# §10.8, cross-checked with py-uds).  Every request carries eventWindowTime:
#   86 eventType eventWindowTime [eventTypeRecord] [serviceToRespondToRecord]
#   C6 eventType numberOfIdentifiedEvents eventWindowTime [record] [service]
#   C6 04 numberOfActivatedEvents {eventType eventWindowTime record service}
# Server: record_length() for the checks; client: build_roe_request() and
# parse_roe_response() (CPython-friendly, allocates).
from diagbridge._compat import const
from diagbridge.errors import UsageError
from diagbridge.uds.codec.dtc import request_length as _rdtci_length

SID_ROE = const(0x86)
_SID_NR = const(0x7F)

# eventType bits 5-0 (Table 139 [K]); bit 6 = storageState (1 = storeEvent).
ET_STOP = const(0x00)               # stopResponseOnEvent
ET_DTC_STATUS_CHANGE = const(0x01)  # onDTCStatusChange
ET_DID_CHANGE = const(0x03)         # onChangeOfDataIdentifier
ET_REPORT_ACTIVATED = const(0x04)   # reportActivatedEvents
ET_START = const(0x05)              # startResponseOnEvent
ET_CLEAR = const(0x06)              # clearResponseOnEvent
ET_COMPARISON = const(0x07)         # onComparisonOfValues
ET_MOST_RECENT_DTC = const(0x08)    # reportMostRecentDtcOnStatusChange
ET_DTC_RECORD = const(0x09)         # reportDTCRecordInformationOnDtcStatusChange
STORE = const(0x40)                 # storageState bit (§10.9.2.2.1)

# eventWindowTime (Annex B.2 [K]; the source example takes 0x08 as 80 s).
EWT_INFINITE = const(0x02)
EWT_SHORT = const(0x03)
EWT_MEDIUM = const(0x04)
EWT_LONG = const(0x05)
EWT_POWER = const(0x06)
EWT_IGNITION = const(0x07)
EWT_MANUFACTURER = const(0x08)

# onComparisonOfValues comparison logic: 0x01 is "MV > CP" as the source's
# example says (§10.9.5.4; the 2020 table, missing here, is said to differ,
# uds-digest §13 #9); the rest follows by symmetry.
OP_GT = const(0x01)
OP_LT = const(0x02)
OP_EQ = const(0x03)
OP_NE = const(0x04)


def is_setup(et):
    et &= 0x3F
    return et == 1 or et == 3 or et == 7 or et == 8 or et == 9


def record_length(et, data, pos, n):
    """Length of the eventTypeRecord at data[pos:] for eventType et, or -1
    if it does not fit in n bytes."""
    et &= 0x3F
    if et == ET_DTC_STATUS_CHANGE or et == ET_MOST_RECENT_DTC:
        k = 1                       # DTCStatusMask / the 0x19 SF (0D, 0E)
    elif et == ET_DID_CHANGE:
        k = 2                       # DID
    elif et == ET_COMPARISON:
        k = 10                      # DID, operator, value(4), hysteresis, localisation(2)
    elif et == ET_DTC_RECORD:
        # DTCStatusMask, 0x19 SF, record number [, MemorySelection for 18/19]
        if pos + 2 > n:
            return -1
        sf = data[pos + 1] & 0x7F
        k = 4 if sf == 0x18 or sf == 0x19 else 3
    else:
        k = 0
    return k if pos + k <= n else -1


def service_length(data, pos, n):
    """Best guess of a serviceToRespondToRecord's length at data[pos:] (for
    reportActivatedEvents, whose layout does not delimit it): 0x19 by its
    sub-function, 0x22 one DID, otherwise the rest."""
    if pos >= n:
        return 0
    sid = data[pos]
    if sid == 0x19 and pos + 1 < n:
        k = _rdtci_length(data[pos + 1])
        if k > 0:
            return min(k, n - pos)
    if sid == 0x22:
        return min(3, n - pos)
    return n - pos


def build_roe_request(out, event_type, window=EWT_INFINITE, record=b"", service=b"",
                      store=False, suppress=False):
    """`86 eventType eventWindowTime record service` -> length."""
    n = 3 + len(record) + len(service)
    if len(out) < n:
        raise UsageError("buffer too small")
    out[0] = SID_ROE
    out[1] = (event_type & 0x3F) | (STORE if store else 0) | (0x80 if suppress else 0)
    out[2] = window
    p = 3
    for b in record:
        out[p] = b
        p += 1
    for b in service:
        out[p] = b
        p += 1
    return n


def parse_roe_response(data, n):
    """C6 / 7F 86 -> dict, None if malformed.  Keys: event_type (bits 5-0),
    store, identified, window, record, service; for reportActivatedEvents:
    count and events [(event_type, store, window, record, service)]."""
    if n >= 3 and data[0] == _SID_NR and data[1] == SID_ROE:
        return {"nrc": data[2]} if n == 3 else None
    if n < 3 or data[0] != SID_ROE + 0x40:
        return None
    et = data[1] & 0x3F
    r = {"event_type": et, "store": bool(data[1] & STORE)}
    if et == ET_REPORT_ACTIVATED:
        r["count"] = data[2]
        evs = []
        p = 3
        for _ in range(data[2]):
            if p + 2 > n:
                return None
            e = data[p]
            win = data[p + 1]
            k = record_length(e, data, p + 2, n)
            if k < 0:
                return None
            rec = bytes(data[p + 2:p + 2 + k])
            p += 2 + k
            s = service_length(data, p, n) if is_setup(e) and e & 0x3F != 8 else 0
            evs.append((e & 0x3F, bool(e & STORE), win, rec, bytes(data[p:p + s])))
            p += s
        if p != n:
            return None
        r["events"] = evs
        return r
    if n < 4:
        return None
    r["identified"] = data[2]
    r["window"] = data[3]
    k = record_length(et, data, 4, n)
    if k < 0:
        return None
    r["record"] = bytes(data[4:4 + k])
    r["service"] = bytes(data[4 + k:n])
    return r
