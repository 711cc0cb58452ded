# DTC memory: the status-bit logic, lookups and clear of ISO 14229-1 §12.2,
# §12.3, Annex D; the DTC entries, their snapshot / stored / extended data
# records, the "dtc" section and the NVM layout are dtc_record.py's
# (re-exported here).  Allocated once from the profile; the application
# reports test results, the 0x14/0x19 handlers (srv_dtc.py) and ROE (roe.py)
# read it.
#
# Status bits follow Annex D.2 (figures D.1-D.8 are missing from the source;
# the logic below is the ISO 14229-1:2020 one, uds-digest §8.3):
#   failed result   TF, TFTOC, PDTC, TFSLC := 1; TNCSLC, TNCTOC := 0; the
#                   first failed cycle counts a trip, CDTC := 1 once trips
#                   reach confirmation_threshold (1 for non-OBD, D.2.1);
#                   WIR := 1 with CDTC for DTCs with a warning indicator
#   passed result   TF := 0; TNCSLC, TNCTOC := 0
#   operation cycle end of a complete cycle without failure: PDTC := 0,
#                   trips := 0; a confirmed DTC ages one cycle (CDTC := 0 at
#                   aging_threshold); WIR heals after healing_threshold such
#                   cycles.  Then TFTOC := 0, TNCTOC := 1.
#   clear (0x14)    status := TNCSLC | TNCTOC (0x50), records and counters
#                   dropped (§12.2.1); also while DTC setting is off.
# While ControlDTCSetting is off (gate.dtc_setting_on False) no status bit
# changes except by a clear (§10.8.1, D.2.1 "DTC Status Update Condition").
from diagbridge.errors import ConfigError, UsageError
from diagbridge.uds.codec.dtc import (TF, TFTOC, PDTC, CDTC, TNCSLC, TFSLC, TNCTOC, WIR,
                                      GROUP_ALL, GROUP_EMISSIONS, GROUP_SAFETY, GROUP_VOBD)
from diagbridge.uds.server.dtc_record import (Record, Dtc, DtcConfig,  # Record, Dtc: re-exported
                                       STATUS_CLEARED as _STATUS_CLEARED,
                                       dump_memory, load_memory)


class DtcMemory:
    """One DTC memory (primary or a user-defined one, §12.3.1.17)."""

    def __init__(self, entries, cfg, gate=None, name="dtcs"):
        if not isinstance(entries, (list, tuple)):
            raise ConfigError(name)
        self.gate = gate            # has .dtc_setting_on (the server); None = always on
        self.read_did = None        # fn(did, out, pos, size) -> bool: snapshot capture source
        self.avail = cfg.avail
        self.confirm_at = cfg.confirm_at
        self.aging_at = cfg.aging_at
        self.healing_at = cfg.healing_at
        self.dtcs = []
        for i in range(len(entries)):
            d = Dtc(entries[i], "%s[%d]" % (name, i), cfg.avail)
            for o in self.dtcs:
                if o.code == d.code:    # a DTC is never reported twice (§12.3.1.1)
                    raise ConfigError("%s[%d].code" % (name, i))
            self.dtcs.append(d)
        # Supported record numbers, as flags (lookups without allocation).
        self.snap_numbers = bytearray(256)
        self.stored_numbers = bytearray(256)
        self.ext_numbers = bytearray(256)
        for d in self.dtcs:
            for r in d.snaps:
                self.snap_numbers[r.number] = 1
            for r in d.stored_data:
                self.stored_numbers[r.number] = 1
            for r in d.ext:
                self.ext_numbers[r.number] = 1
        self.first_failed = None
        self.recent_failed = None
        self.first_confirmed = None
        self.recent_confirmed = None
        self.changes = 0            # status updates so far (ROE and tests watch it)

    # ---- lookups --------------------------------------------------------------
    def find(self, code):
        for d in self.dtcs:
            if d.code == code:
                return d
        return None

    def _get(self, code):
        d = self.find(code)
        if d is None:
            raise UsageError("unknown DTC")
        return d

    def updates_on(self, d=None):
        """DTC status update condition (D.2.1) for DTC d (None: any DTC).
        ControlDTCSetting off with a DTCSettingControlOptionRecord that is a
        groupOfDTC (srv.dtc_setting_option, 3 bytes) freezes that group only."""
        g = self.gate
        if g is None or getattr(g, "dtc_setting_on", True):
            return True
        opt = getattr(g, "dtc_setting_option", None)
        if d is None or opt is None or len(opt) != 3:
            return False
        group = (opt[0] << 16) | (opt[1] << 8) | opt[2]
        return not self.in_group(d, group, None)

    # ---- test results (the application's input) -------------------------------
    def report_test_result(self, now, code, failed):
        """A completed test result for `code`; False if DTC setting is off."""
        d = self._get(code)
        if not self.updates_on(d):
            return False
        old = d.status
        s = old & ~(TNCSLC | TNCTOC)
        if failed:
            s |= TF | TFTOC | PDTC | TFSLC
            d.fdc = 127
            d.aging = 0
            d.healing = 0
            if not old & TFTOC and d.trips < 255:
                d.trips += 1        # one trip per failing operation cycle (D.2.1)
            if d.trips >= self.confirm_at:
                s |= CDTC
                if d.warning:
                    s |= WIR
            if not old & TF:        # a new occurrence
                if self.first_failed is None:
                    self.first_failed = d
                self.recent_failed = d
                self._capture(d.snaps)
                self._capture(d.stored_data)
            if s & CDTC and not old & CDTC:
                if self.first_confirmed is None:
                    self.first_confirmed = d
                self.recent_confirmed = d
        else:
            s &= ~TF
            d.fdc = -128
        d.status = s
        if s != old:
            self.changes += 1
        return True

    def report_prefailed(self, code, fdc):
        """Set the DTCFaultDetectionCounter while a test matures (-128..127)."""
        d = self._get(code)
        if not -128 <= fdc <= 127:
            raise UsageError("fdc")
        if self.updates_on(d):
            d.fdc = fdc

    def set_extended(self, code, number, data):
        """Write an extended data record (e.g. occurrence counter); the size is fixed."""
        r = self._get(code).record(self._get(code).ext, number)
        if r is None or len(data) != len(r.buf):
            raise UsageError("extended record")
        for i in range(len(data)):
            r.buf[i] = data[i]
        r.stored = True

    def _capture(self, recs):
        # The lowest record keeps the first occurrence, the highest the most
        # recent one, records between fill up in order (VM choice, §12.3.1.4).
        if not recs:
            return
        r = recs[0]
        if r.stored and len(recs) > 1:
            r = None
            for x in recs[1:]:
                if not x.stored:
                    r = x
                    break
            if r is None:
                r = recs[-1]
        p = 0
        for i in range(len(r.dids)):
            rd = self.read_did
            if rd is not None:
                rd(r.dids[i], r.buf, p, r.lens[i])     # keeps the old bytes if it cannot
            p += r.lens[i]
        r.stored = True

    def start_operation_cycle(self, now):
        """End the running operation cycle and start the next (D.2.1)."""
        for d in self.dtcs:
            if not self.updates_on(d):
                continue
            old = s = d.status
            if not s & TNCTOC and not s & TFTOC:    # complete, no failure
                s &= ~PDTC
                d.trips = 0
                if s & CDTC:
                    d.aging += 1
                    if d.aging >= self.aging_at:
                        s &= ~CDTC
                        d.aging = 0
                if s & WIR:
                    d.healing += 1
                    if d.healing >= self.healing_at:
                        s &= ~WIR
                        d.healing = 0
            s = (s & ~TFTOC) | TNCTOC
            d.status = s
            if s != old:
                self.changes += 1

    # ---- clear (0x14) ------------------------------------------------------------
    def in_group(self, d, group, groups):
        if group == GROUP_ALL:
            return True
        if group == GROUP_EMISSIONS:
            return d.fgid == 0x33
        if group == GROUP_SAFETY:
            return d.fgid == 0xD0
        if group == GROUP_VOBD:
            return d.fgid == 0xFE
        if groups is not None and group in groups:
            return d.code in groups[group]
        return d.code == group

    def group_supported(self, group, groups):
        if group in (GROUP_ALL, GROUP_EMISSIONS, GROUP_SAFETY, GROUP_VOBD):
            return True
        if groups is not None and group in groups:
            return True
        return self.find(group) is not None

    def clear(self, group, groups=None):
        """Clear the DTCs of `group` (§12.2.1); not blocked by DTC setting off."""
        for d in self.dtcs:
            if not self.in_group(d, group, groups):
                continue
            if d.status != _STATUS_CLEARED:
                self.changes += 1
            d.status = _STATUS_CLEARED
            d.fdc = 0
            d.trips = d.aging = d.healing = 0
            for recs in (d.snaps, d.stored_data, d.ext):
                for r in recs:
                    r.stored = False
            if self.first_failed is d:
                self.first_failed = None
            if self.recent_failed is d:
                self.recent_failed = None
            if self.first_confirmed is d:
                self.first_confirmed = None
            if self.recent_confirmed is d:
                self.recent_confirmed = None

    # ---- persistence (layout: dtc_record.py) ---------------------------------------
    def dump(self):
        """The memory's state as bytes (layout checked on load by its length)."""
        return dump_memory(self)

    def load(self, b):
        """Restore dump() output; False (state untouched) if it does not fit
        this profile (the profile changed since it was written)."""
        return load_memory(self, b)


class DtcStore:
    """The server's DTC memories: `primary` plus user-defined memories by
    MemorySelection (0x17-0x19, 0x14 with MemorySelection)."""

    def __init__(self, dtcs, raw=None, gate=None):
        self.cfg = DtcConfig(raw)
        self.primary = DtcMemory(dtcs or [], self.cfg, gate)
        self.user = {}
        for sel in sorted(self.cfg.user_memories):
            self.user[sel] = DtcMemory(self.cfg.user_memories[sel], self.cfg, gate,
                                       "dtc.user_memories[%d]" % sel)

    def memory(self, sel):
        return self.user.get(sel)

    # Convenience for the application: the primary memory.
    def report_test_result(self, now, code, failed):
        return self.primary.report_test_result(now, code, failed)

    def start_operation_cycle(self, now):
        self.primary.start_operation_cycle(now)
        for sel in self.user:
            self.user[sel].start_operation_cycle(now)

    @staticmethod
    def _key(sel):
        return "dtc" if sel is None else "dtc.%02x" % sel

    def save(self, nvm, sel=-1):
        """Write the memories (all, or the primary with sel=None, or one user
        memory) to nvm.  nvm.put raises OSError when it cannot write."""
        if nvm is None:
            return
        if sel == -1 or sel is None:
            nvm.put(self._key(None), self.primary.dump())
        for s in self.user:
            if sel == -1 or sel == s:
                nvm.put(self._key(s), self.user[s].dump())

    def load(self, nvm):
        """Restore from nvm; True if the primary memory was found."""
        if nvm is None:
            return False
        ok = self.primary.load(nvm.get(self._key(None)))
        for s in self.user:
            self.user[s].load(nvm.get(self._key(s)))
        return ok
