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
from diagbridge._compat import const
from diagbridge.crc import crc16_ccitt
from diagbridge.uds.nrc import NRC_GPF

# commit() / commit_poll() of a target: the commit is still running
COMMIT_PENDING = const(-1)

_SECTOR = const(4096)       # NVM persistence granule of MemoryStore


class MemoryStore:
    """Download/upload regions: bytes kept in RAM, persisted to NVM per 4 KiB
    sector (keys "mem.<start hex>.<sector>") at commit(): TransferData only
    marks sectors dirty.  Content an NVM does not have reads as erased flash
    (0xFF).  A region's RAM is allocated on its first use, never per request.
    With a deferred NVM (put_nowait/sync_start, see the top) commit() hands
    every dirty sector over at once and returns COMMIT_PENDING until the
    NVM's sync ends (commit_poll).

    One memory model with 0x23/0x3D: `mirrors` are the profile's memory
    regions (uds/server/profile.py Region).  Where a transfer region overlaps one,
    the profile region is the truth: writes (and erases) go through to it, so
    22/23 read back what 36 wrote, and reads take its bytes, so 35 and the
    checksum see what 3D wrote.  Touched mirrors with nvm persist at commit()
    under their own key, as 3D persists them."""

    def __init__(self, regions, nvm=None, mirrors=()):
        # regions: iterable of (start, size, erase_us_per_kib)
        self._start = []
        self._size = []
        self._erase_us = []
        self._buf = []
        self._dirty = []
        for start, size, erase_us in regions:
            if start in self._start:
                continue
            self._start.append(start)
            self._size.append(size)
            self._erase_us.append(erase_us)
            self._buf.append(None)
            self._dirty.append(None)
        self._nvm = nvm
        self._deferred = nvm is not None and hasattr(nvm, "sync_start")
        self._mirrors = list(mirrors)
        self._touched = bytearray(len(self._mirrors))

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

    def _region(self, addr):
        i = self.find(addr, 1)
        if self._buf[i] is None:
            size = self._size[i]
            buf = bytearray(b"\xff" * size)
            nsec = (size + _SECTOR - 1) // _SECTOR
            if self._nvm is not None:
                for s in range(nsec):
                    v = self._nvm.get(self._key(i, s))
                    if v is not None:
                        o = s * _SECTOR
                        for j in range(len(v)):
                            buf[o + j] = v[j]
            self._buf[i] = buf
            self._dirty[i] = bytearray(nsec)
        return i

    def _key(self, i, sector):
        return "mem.%08x.%d" % (self._start[i], sector)

    def _mirror(self, i, addr, count, to_mirror):
        """Copy [addr, addr+count) of region i to (or from) the overlapping
        profile memory regions."""
        buf = self._buf[i]
        base = self._start[i]
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
        i = self._region(addr)
        buf = self._buf[i]
        o = addr - self._start[i]
        for j in range(count):
            buf[o + j] = data[off + j]
        self._mark(i, addr, count)
        return 0

    def _mark(self, i, addr, count):
        o = addr - self._start[i]
        dirty = self._dirty[i]
        s = o // _SECTOR
        while s * _SECTOR < o + count:
            dirty[s] = 1
            s += 1
        self._mirror(i, addr, count, True)

    def erase(self, addr, size):
        i = self._region(addr)
        buf = self._buf[i]
        o = addr - self._start[i]
        for j in range(size):
            buf[o + j] = 0xFF
        self._mark(i, addr, size)
        nrc = self.commit()
        if nrc == COMMIT_PENDING:      # the erase routine's answer waits for it
            try:
                self._nvm.sync()
            except OSError:
                return NRC_GPF
            return 0
        return nrc

    def commit(self):
        """Persist the dirty sectors: 0, NRC 0x72, or COMMIT_PENDING (a
        deferred NVM syncs them; see commit_poll)."""
        nvm = self._nvm
        if nvm is None:
            return 0
        put = nvm.put_nowait if self._deferred else nvm.put
        n = 0
        for i in range(len(self._start)):
            dirty = self._dirty[i]
            if dirty is None:
                continue
            buf = self._buf[i]
            for s in range(len(dirty)):
                if dirty[s]:
                    end = min((s + 1) * _SECTOR, self._size[i])
                    try:
                        put(self._key(i, s), bytes(buf[s * _SECTOR:end]))
                    except OSError:
                        return NRC_GPF
                    dirty[s] = 0
                    n += 1
        ms = self._mirrors
        for k in range(len(ms)):
            r = ms[k]
            if self._touched[k] and r.nvm:
                try:
                    put(r.key, bytes(r.data))
                except OSError:
                    return NRC_GPF
                n += 1
            self._touched[k] = 0
        if n == 0 or not self._deferred:
            return 0
        try:
            nvm.sync_start()
        except OSError:
            return NRC_GPF
        return self.commit_poll()

    def commit_poll(self):
        """After COMMIT_PENDING: 0 (durable), NRC 0x72 or COMMIT_PENDING."""
        r = self._nvm.sync_poll()
        if r > 0:
            return COMMIT_PENDING
        return NRC_GPF if r < 0 else 0

    def crc16(self, addr, size):
        """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over [addr, addr+size)."""
        i = self._region(addr)
        self._mirror(i, addr, size, False)
        buf = self._buf[i]
        o = addr - self._start[i]
        return crc16_ccitt(buf, o, size)
