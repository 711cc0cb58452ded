# DTC records and their storage (ISO 14229-1 §12.3, Annex D): the profile's
# DTC entries as Dtc objects with their snapshot / stored / extended data
# Records, the "dtc" section (DtcConfig), and the byte layout a DtcMemory
# (dtc.py, the status-bit logic) is saved to NVM in:
#   version(1) count(1) {status trips aging healing fdc permanent
#   {stored(1) data}*records}*dtcs first_failed recent_failed
#   first_confirmed recent_confirmed (index + 1, 0 = none)
# Everything is allocated once from the profile; a record's size never changes.
from diagbridge.errors import ConfigError
from diagbridge.uds.server.profile_values import key_int, to_bytes
from diagbridge.uds.codec.dtc import TNCSLC, TNCTOC

STATUS_CLEARED = TNCSLC | TNCTOC
_VERSION = 1


def _int(v, lo, hi, field):
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(field)
    return v


class Record:
    """A snapshot / stored-data record ({DID: data}) or an extended data
    record (raw bytes).  Sizes are fixed (a DID has one length, C.1)."""

    def __init__(self, number, dids, lens, data, field):
        self.number = number
        self.dids = dids            # tuple of DIDs; () for an extended record
        self.lens = lens            # tuple of data lengths, one per DID
        self.buf = bytearray(len(data))
        for i in range(len(data)):
            self.buf[i] = data[i]
        self.stored = True          # the profile's contents are the memory at start

    @staticmethod
    def from_dids(number, dids_map, field):
        m = {}
        for k in dids_map:
            m[key_int(k, field, 0xFFFF)] = to_bytes(dids_map[k], field)
        dids = sorted(m)
        data = bytearray()
        lens = []
        for did in dids:
            lens.append(len(m[did]))
            data += m[did]
        return Record(number, tuple(dids), tuple(lens), data, field)


class Dtc:
    def __init__(self, e, field, cfg_avail):
        if not isinstance(e, dict):
            raise ConfigError(field)
        self.code = key_int(e.get("code", -1), field + ".code")
        self.status = _int(e.get("status", STATUS_CLEARED), 0, 0xFF, field + ".status")
        self.severity = _int(e.get("severity", 0), 0, 0xFF, field + ".severity")
        self.fu = _int(e.get("functional_unit", 0), 0, 0xFF, field + ".functional_unit")
        self.fgid = _int(e.get("functional_group", 0), 0, 0xFF, field + ".functional_group")
        self.readiness = _int(e.get("readiness_group", 0), 0, 0xFF, field + ".readiness_group")
        self.permanent = bool(e.get("permanent", False))
        self.warning = bool(e.get("warning_indicator", False))
        self.fdc = _int(e.get("fault_detection_counter", 0), -128, 127,
                        field + ".fault_detection_counter")
        self.trips = 0
        self.aging = 0
        self.healing = 0
        self.snaps = self._records(e.get("snapshots", {}), field + ".snapshots", True)
        self.stored_data = self._records(e.get("stored_data", {}), field + ".stored_data", True)
        self.ext = self._records(e.get("extended", {}), field + ".extended", False)

    @staticmethod
    def _records(m, field, with_dids):
        if not isinstance(m, dict):
            raise ConfigError(field)
        byn = {}
        for k in m:
            byn[key_int(k, field, 0xFE)] = m[k]     # 0xFF means "all" (§12.3.1.5)
        out = []
        for num in sorted(byn):
            if with_dids:
                if not isinstance(byn[num], dict) or not byn[num]:
                    raise ConfigError(field)
                out.append(Record.from_dids(num, byn[num], field))
            else:
                if num == 0xFE:                     # FE means "all OBD records"
                    raise ConfigError(field)
                v = to_bytes(byn[num], field)
                out.append(Record(num, (), (len(v),), v, field))
        return out

    def record(self, recs, number):
        for r in recs:
            if r.number == number:
                return r
        return None


class DtcConfig:
    """The profile's optional "dtc" section (uds-digest §8.3-§8.6)."""

    def __init__(self, raw=None):
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ConfigError("dtc")
        self.avail = _int(raw.get("availability_mask", 0xFF), 0, 0xFF, "dtc.availability_mask")
        self.format = _int(raw.get("format", 0x01), 0, 0xFF, "dtc.format")
        self.severity_avail = _int(raw.get("severity_availability_mask", 0xFF), 0, 0xFF,
                                   "dtc.severity_availability_mask")
        self.confirm_at = _int(raw.get("confirmation_threshold", 1), 1, 255,
                               "dtc.confirmation_threshold")
        self.aging_at = _int(raw.get("aging_threshold", 40), 1, 255, "dtc.aging_threshold")
        self.healing_at = _int(raw.get("healing_threshold", 3), 1, 255, "dtc.healing_threshold")
        groups = raw.get("groups")
        self.groups = None
        if groups is not None:
            if not isinstance(groups, dict):
                raise ConfigError("dtc.groups")
            self.groups = {}
            for g in groups:
                codes = groups[g]
                if not isinstance(codes, (list, tuple)):
                    raise ConfigError("dtc.groups")
                self.groups[key_int(g, "dtc.groups")] = tuple(
                    key_int(c, "dtc.groups") for c in codes)
        um = raw.get("user_memories", {})
        if not isinstance(um, dict):
            raise ConfigError("dtc.user_memories")
        self.user_memories = {}
        for sel in um:
            self.user_memories[key_int(sel, "dtc.user_memories", 0xFF)] = um[sel]


# ---- persistence of a DtcMemory ----------------------------------------------------
def _index(mem, d):
    return 0 if d is None else mem.dtcs.index(d) + 1


def dump_memory(mem):
    """A DtcMemory's state as bytes (layout checked on load by its length)."""
    b = bytearray((_VERSION, len(mem.dtcs) & 0xFF))
    for d in mem.dtcs:
        b += bytes((d.status, d.trips, d.aging, d.healing, d.fdc & 0xFF,
                    1 if d.permanent else 0))
        for recs in (d.snaps, d.stored_data, d.ext):
            for r in recs:
                b.append(1 if r.stored else 0)
                b += r.buf
    for d in (mem.first_failed, mem.recent_failed, mem.first_confirmed,
              mem.recent_confirmed):
        b.append(_index(mem, d))
    return bytes(b)


def load_memory(mem, b):
    """Restore dump_memory() output into mem; False (state untouched) if it
    does not fit this profile (the profile changed since it was written)."""
    size = 2 + 4
    for d in mem.dtcs:
        size += 6
        for recs in (d.snaps, d.stored_data, d.ext):
            for r in recs:
                size += 1 + len(r.buf)
    if b is None or len(b) != size or b[0] != _VERSION or b[1] != len(mem.dtcs) & 0xFF:
        return False
    p = 2
    for d in mem.dtcs:
        d.status, d.trips, d.aging, d.healing = b[p], b[p + 1], b[p + 2], b[p + 3]
        d.fdc = b[p + 4] - 256 if b[p + 4] > 127 else b[p + 4]
        d.permanent = bool(b[p + 5] & 1)
        p += 6
        for recs in (d.snaps, d.stored_data, d.ext):
            for r in recs:
                r.stored = b[p] == 1
                for i in range(len(r.buf)):
                    r.buf[i] = b[p + 1 + i]
                p += 1 + len(r.buf)
    refs = []
    for i in range(4):
        k = b[p + i]
        refs.append(mem.dtcs[k - 1] if 0 < k <= len(mem.dtcs) else None)
    mem.first_failed, mem.recent_failed, mem.first_confirmed, mem.recent_confirmed = refs
    return True
