# MemoryStore: the download/upload regions of the UDS server's transfer
# services (0x34-0x37, the transfer machine is uds/server/transfer_machine.py), kept in RAM
# and committed to NVM per 4 KiB sector.
#
# A transfer *target* (this store, the file stores of uds/server/file_store.py) offers
#   read(addr, out, off, count) -> count     write(addr, data, off, count) -> 0 | NRC
#   commit() -> 0 | NRC | COMMIT_PENDING     (at RequestTransferExit)
#   commit_poll() -> 0 | NRC | COMMIT_PENDING   (only after COMMIT_PENDING)
#
# Slow NVM (a file system's fsync, a flash page program): TransferData only
# writes RAM and marks 4 KiB sectors dirty; RequestTransferExit commits them.
# An NVM that offers the deferred interface
#   put_nowait(key, value)   as put(), atomic per key, durable after a sync
#   sync_start()             begin making every put_nowait durable (no wait)
#   sync_poll() -> 0 | 1 | -1    durable / still running / failed (0x72)
#   sync()                   blocking: sync_start + wait (OSError on failure)
# gets every dirty sector with put_nowait and one sync_start; the commit then
# returns COMMIT_PENDING, the RequestTransferExit handler answers
# RSP_PENDING, so the server sends 7F 37 78 before P2 (and every P2*) while
# the NVM syncs, and the final 77 (or 7F 37 72) once sync_poll says so.  The
# server never waits on the NVM inside a handler (cpy/nvm_file.FileNvm
# syncs in a thread).  A store without it (MemNvm) is durable at put().
#
# Staged blocks belong to one download: the dirty sectors are the download's
# until its own RequestTransferExit commits them; discard() (abort, reset,
# session change, a new RequestDownload) reloads them from the committed
# image, and the profile memory regions see them only at that commit.
#
# Every commit leaves each sector wholly old or wholly new after a power cut
# at any NVM write (the two-generation rule of cpy/nvm_file.py, applied to
# the image).  Each sector has two slots, "mem.<start>.<s>" and
# "mem.<start>.<s>.1"; one record, "mem.image", says which slot holds each
# sector.  A commit runs in phases, each durable before the next begins:
#   1 every dirty sector into its other slot       (the old slot stays valid)
#   2 the record flipped to the new slots, flag _PENDING if mirrors changed
#   3 the touched mirrors under their own keys
#   4 the record again without _PENDING
# A cut before 2 leaves the old image, after 2 the new one; a cut in 3 is
# rolled forward at power-up (recover(): the committed sectors are copied
# into the mirrors they overlap), so the mirror bytes of a sector agree with
# its other bytes.
from diagbridge._compat import const
from diagbridge.crc import crc16_ccitt
from diagbridge.uds.nrc import NRC_GPF

# commit() / commit_poll() of a target: the commit is still running
COMMIT_PENDING = const(-1)

_SECTOR = const(4096)       # NVM persistence granule of MemoryStore
_RECORD = "mem.image"       # the slot record (see the top)
_PENDING = const(1)         # record flag: mirrors not yet rolled forward

# commit phases (see the top); _PH_IDLE: no commit running
_PH_IDLE = const(0)
_PH_SECTORS = const(1)
_PH_FLIP = const(2)
_PH_MIRRORS = const(3)
_PH_CLEAR = const(4)
_PH_DONE = const(5)


class MemoryStore:
    """Download/upload regions: bytes kept in RAM, persisted to NVM per 4 KiB
    sector at commit(): TransferData only marks sectors dirty (staged for
    the open download; discard() drops them).  Content an NVM does not have
    reads as erased flash (0xFF).  A region's RAM is allocated on its first
    use, never per request.  With a deferred NVM (put_nowait/sync_start, see
    the top) commit() returns COMMIT_PENDING until every phase is durable
    (commit_poll).

    One memory model with 0x23/0x3D: `mirrors` are the profile's memory
    regions (uds/server/profile.py Region).  Where a transfer region overlaps
    one, the profile region is the truth: reads take its bytes (outside the
    staged sectors), so 35 and the checksum see what 3D wrote, and a commit
    copies the staged sectors into it, so 22/23 read back what 36 wrote.
    Touched mirrors with nvm persist under their own key, as 3D persists
    them."""

    def __init__(self, regions, nvm=None, mirrors=()):
        # regions: iterable of (start, size, erase_us_per_kib)
        self._start = []
        self._size = []
        self._erase_us = []
        self._buf = []
        self._dirty = []
        self._slot = []         # per region: the slot (0/1) of each sector
        self._changed = []      # per region: sectors of the running commit
        for start, size, erase_us in regions:
            if start in self._start:
                continue
            nsec = (size + _SECTOR - 1) // _SECTOR
            self._start.append(start)
            self._size.append(size)
            self._erase_us.append(erase_us)
            self._buf.append(None)
            self._dirty.append(None)
            self._slot.append(bytearray(nsec))
            self._changed.append(bytearray(nsec))
        self._nvm = nvm
        self._deferred = nvm is not None and hasattr(nvm, "sync_start")
        self._mirrors = list(mirrors)
        self._touched = bytearray(len(self._mirrors))
        self._phase = _PH_IDLE
        self._pending = False   # the record on NVM carries _PENDING
        self.discards = 0       # staged sectors dropped (abort, new download)
        if nvm is not None:
            self._read_record()

    def find(self, addr, size):
        """Index of the region holding [addr, addr+size), or -1."""
        for i in range(len(self._start)):
            s = self._start[i]
            if s <= addr and addr + size <= s + self._size[i]:
                return i
        return -1

    def erase_time_us(self, addr, size):
        i = self.find(addr, size)
        return 0 if i < 0 else self._erase_us[i] * ((size + 1023) >> 10)

    # ---- the slot record ------------------------------------------------------------
    def _read_record(self):
        # flags(1), then per region: start(4) nsec(2) slot(nsec) changed(nsec);
        # a region the record does not know (new in the profile) is in slot 0
        v = self._nvm.get(_RECORD)
        if v is None or len(v) < 1:
            return
        self._pending = bool(v[0] & _PENDING)
        o = 1
        while o + 6 <= len(v):
            start = int.from_bytes(v[o:o + 4], "big")
            nsec = (v[o + 4] << 8) | v[o + 5]
            o += 6
            if o + 2 * nsec > len(v):
                return
            if start in self._start:
                i = self._start.index(start)
                if len(self._slot[i]) == nsec:
                    self._slot[i][:] = v[o:o + nsec]
                    self._changed[i][:] = v[o + nsec:o + 2 * nsec]
            o += 2 * nsec

    def _record(self, slots, pending):
        out = bytearray((_PENDING if pending else 0,))
        for i in range(len(self._start)):
            nsec = len(slots[i])
            out += self._start[i].to_bytes(4, "big")
            out += bytes(((nsec >> 8) & 0xFF, nsec & 0xFF))
            out += slots[i]
            out += self._changed[i]
        return bytes(out)

    def _key(self, i, sector, slot=0):
        if slot:
            return "mem.%08x.%d.1" % (self._start[i], sector)
        return "mem.%08x.%d" % (self._start[i], sector)

    def _load_sector(self, i, s):
        """Sector s of region i from its committed slot (0xFF where none)."""
        buf = self._buf[i]
        o = s * _SECTOR
        end = min(o + _SECTOR, self._size[i])
        v = None
        if self._nvm is not None:
            v = self._nvm.get(self._key(i, s, self._slot[i][s]))
        n = 0 if v is None else min(len(v), end - o)
        for j in range(n):
            buf[o + j] = v[j]
        for j in range(o + n, end):
            buf[j] = 0xFF

    def _region(self, addr):
        i = self.find(addr, 1)
        if self._buf[i] is None:
            size = self._size[i]
            self._buf[i] = bytearray(size)
            nsec = len(self._slot[i])
            for s in range(nsec):
                self._load_sector(i, s)
            self._dirty[i] = bytearray(nsec)
        return i

    def _mirror(self, i, addr, count, to_mirror):
        """Copy [addr, addr+count) of region i to (or from) the overlapping
        profile memory regions; from them, staged (dirty) sectors are kept."""
        buf = self._buf[i]
        base = self._start[i]
        dirty = self._dirty[i]
        ms = self._mirrors
        for k in range(len(ms)):
            r = ms[k]
            lo = addr if addr > r.start else r.start
            hi = addr + count
            if r.end < hi:
                hi = r.end
            if hi <= lo:
                continue
            d = r.data
            if to_mirror:
                for a in range(lo, hi):
                    d[a - r.start] = buf[a - base]
                self._touched[k] = 1
            else:
                for a in range(lo, hi):
                    if not dirty[(a - base) // _SECTOR]:
                        buf[a - base] = d[a - r.start]

    def read(self, addr, out, off, count):
        i = self._region(addr)
        self._mirror(i, addr, count, False)
        buf = self._buf[i]
        o = addr - self._start[i]
        for j in range(count):
            out[off + j] = buf[o + j]
        return count

    def write(self, addr, data, off, count):
        if self._phase != _PH_IDLE:
            return NRC_GPF             # not while a commit runs (never reached: 0x37 is pending)
        i = self._region(addr)
        self._mark(i, addr, count)
        buf = self._buf[i]
        o = addr - self._start[i]
        for j in range(count):
            buf[o + j] = data[off + j]
        return 0

    def _mark(self, i, addr, count):
        o = addr - self._start[i]
        dirty = self._dirty[i]
        s = o // _SECTOR
        while s * _SECTOR < o + count:
            if not dirty[s]:
                # the sector's mirror bytes are the truth until it is staged
                lo = self._start[i] + s * _SECTOR
                self._mirror(i, lo, min(_SECTOR, self._size[i] - s * _SECTOR), False)
                dirty[s] = 1
            s += 1

    def staged(self):
        """Number of sectors staged for the open download."""
        n = 0
        for dirty in self._dirty:
            if dirty is not None:
                for s in range(len(dirty)):
                    n += dirty[s]
        return n

    def discard(self):
        """Drop every staged sector (the download was aborted): RAM reads the
        committed image again.  A commit already running (its exit was
        answered 0x78) is finished first: its own exit staged it."""
        if self._phase != _PH_IDLE:
            r = self.commit_poll()
            self._finish(r)
        for i in range(len(self._start)):
            dirty = self._dirty[i]
            if dirty is None:
                continue
            for s in range(len(dirty)):
                if dirty[s]:
                    self._load_sector(i, s)
                    dirty[s] = 0
                    self.discards += 1

    def erase(self, addr, size):
        i = self._region(addr)
        self._mark(i, addr, size)
        buf = self._buf[i]
        o = addr - self._start[i]
        for j in range(size):
            buf[o + j] = 0xFF
        return self._finish(self.commit())     # the erase routine's answer waits for it

    def _finish(self, r):
        # a deferred commit driven to its end here (blocking: erase, recover)
        while r == COMMIT_PENDING:
            try:
                self._nvm.sync()
            except OSError:
                return self._failed()
            r = self.commit_poll()
        return r

    # ---- commit ---------------------------------------------------------------------
    def commit(self):
        """Persist the staged sectors: 0, NRC 0x72, or COMMIT_PENDING (a
        deferred NVM syncs each phase; see commit_poll)."""
        if self._phase != _PH_IDLE:
            return self.commit_poll()
        nvm = self._nvm
        if self._pending:
            r = self.recover()          # an earlier commit's mirrors first
            if r:
                return r
        n = 0
        for i in range(len(self._start)):
            dirty = self._dirty[i]
            changed = self._changed[i]
            for s in range(len(changed)):
                c = 1 if dirty is not None and dirty[s] else 0
                changed[s] = c
                n += c
        if n == 0:
            return 0
        if nvm is None:
            self._new_image()
            return 0
        self._phase = _PH_SECTORS
        return self._run()

    def _new_image(self):
        # the staged sectors become the image: slots flipped, mirrors updated
        for i in range(len(self._start)):
            changed = self._changed[i]
            slot = self._slot[i]
            dirty = self._dirty[i]
            for s in range(len(changed)):
                if changed[s]:
                    slot[s] ^= 1
                    dirty[s] = 0
                    lo = s * _SECTOR
                    n = min(_SECTOR, self._size[i] - lo)
                    self._mirror(i, self._start[i] + lo, n, True)

    def _run(self):
        # one phase after another; a deferred NVM returns between them
        nvm = self._nvm
        put = nvm.put_nowait if self._deferred else nvm.put
        try:
            while True:
                ph = self._phase
                if ph == _PH_SECTORS:
                    for i in range(len(self._start)):
                        changed = self._changed[i]
                        slot = self._slot[i]
                        buf = self._buf[i]
                        for s in range(len(changed)):
                            if changed[s]:
                                end = min((s + 1) * _SECTOR, self._size[i])
                                put(self._key(i, s, slot[s] ^ 1), bytes(buf[s * _SECTOR:end]))
                    self._phase = _PH_FLIP
                elif ph == _PH_FLIP:
                    slots = []
                    for i in range(len(self._start)):
                        sl = bytearray(self._slot[i])
                        changed = self._changed[i]
                        for s in range(len(sl)):
                            sl[s] ^= changed[s]
                        slots.append(sl)
                    # which mirrors the new sectors overlap
                    self._new_image_touch()
                    pend = False
                    ms = self._mirrors
                    for k in range(len(ms)):
                        if self._touched[k] and ms[k].nvm:
                            pend = True
                    put(_RECORD, self._record(slots, pend))
                    self._new_image()
                    self._pending = pend
                    self._phase = _PH_MIRRORS if pend else _PH_DONE
                elif ph == _PH_MIRRORS:
                    ms = self._mirrors
                    for k in range(len(ms)):
                        r = ms[k]
                        if self._touched[k] and r.nvm:
                            put(r.key, bytes(r.data))
                        self._touched[k] = 0    # persisted (or volatile)
                    self._phase = _PH_CLEAR
                elif ph == _PH_CLEAR:
                    put(_RECORD, self._record(self._slot, False))
                    self._pending = False
                    self._phase = _PH_DONE
                else:                   # _PH_DONE: the last phase is durable
                    self._phase = _PH_IDLE
                    return 0
                if self._deferred:
                    nvm.sync_start()
                    return self.commit_poll()
        except OSError:
            return self._failed()

    def _new_image_touch(self):
        # mark the mirrors the changed sectors overlap (without copying yet)
        ms = self._mirrors
        for i in range(len(self._start)):
            changed = self._changed[i]
            for s in range(len(changed)):
                if not changed[s]:
                    continue
                lo = self._start[i] + s * _SECTOR
                hi = self._start[i] + min((s + 1) * _SECTOR, self._size[i])
                for k in range(len(ms)):
                    if ms[k].start < hi and lo < ms[k].end:
                        self._touched[k] = 1

    def _failed(self):
        # before the flip the staged sectors stay staged (a later exit may
        # retry); after it the image is new and the next commit (or recover()
        # at power-up) finishes the mirrors
        self._phase = _PH_IDLE
        return NRC_GPF

    def commit_poll(self):
        """After COMMIT_PENDING: 0 (durable), NRC 0x72 or COMMIT_PENDING."""
        if self._phase == _PH_IDLE:
            return 0
        r = self._nvm.sync_poll()
        if r > 0:
            return COMMIT_PENDING
        if r < 0:
            return self._failed()
        return self._run()

    def recover(self):
        """Power-up: finish a commit cut after its flip (copy the committed
        sectors into the mirrors they overlap, persist them, clear the
        flag).  0 or NRC 0x72."""
        if not self._pending or self._nvm is None:
            return 0
        for i in range(len(self._start)):
            changed = self._changed[i]
            for s in range(len(changed)):
                if changed[s]:
                    self._region(self._start[i])
                    lo = s * _SECTOR
                    self._mirror(i, self._start[i] + lo, min(_SECTOR, self._size[i] - lo), True)
        self._phase = _PH_MIRRORS
        return self._finish(self._run())

    def crc16(self, addr, size):
        """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over [addr, addr+size)."""
        i = self._region(addr)
        self._mirror(i, addr, size, False)
        buf = self._buf[i]
        o = addr - self._start[i]
        return crc16_ccitt(buf, o, size)
