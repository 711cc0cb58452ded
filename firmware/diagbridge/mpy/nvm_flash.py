# NVM for the UDS server on a board's flash filesystem (littlefs or FAT
# through MicroPython's VFS); the interface of uds/server/nvm.py MemNvm:
#   get(key) -> bytes | None, put(key, value), delete(key), keys()
# and the crash safety of cpy/nvm_file.py FileNvm, whose record format it
# shares (a store written on a PC reads on a board and back):
#
#   slot files <hexkey>.0 and <hexkey>.1 in the store's folder, each one record
#   b"DBNV" | generation (8, big-endian) | length (4) | value | CRC-32 (4)
#   with the CRC-32/IEEE (diagbridge.crc) over everything before it.
#
# put() writes the slot that does not hold the newest intact record: the
# record into "<slot>.tmp", flush, close, os.rename over the slot, then
# os.sync() where the port has it.  On littlefs the rename replaces the slot
# atomically; MicroPython's FAT driver removes the old slot first and then
# renames, so a cut between the two leaves that slot missing.  Either way
# the other slot still holds the previous complete record, so after a power
# cut at any point of a put, get() returns the old or the new value, never a
# torn one.  A leftover .tmp (a cut before the rename) is removed when the
# store is opened.  If both slots of a key are corrupt, get() returns None
# (the profile default) and the key is in corrupt_keys; strict=True raises
# OSError instead.  A write the filesystem refuses raises OSError, which the
# UDS server answers with 0x72 generalProgrammingFailure.
#
#   nvm = FlashNvm("/nvm")                  # the folder is created if missing
#   srv = UdsServer(profile, nvm=nvm) ...   # or Ecu(profile, nvm=nvm)
#
# fs: the filesystem calls used (open, rename, remove, listdir, mkdir, sync),
# by default MicroPython's (or CPython's) os and open; a test passes a
# wrapper that cuts the power at a chosen write.
import os

from diagbridge._compat import const
from diagbridge.crc import Crc32
from diagbridge.errors import UsageError

_MAGIC = b"DBNV"
_HEAD = const(16)           # magic + generation + length
_TAIL = const(4)            # CRC-32
# errno values of "no such file" / "exists": POSIX's, and the numbers the
# WebAssembly (emscripten) filesystem raises although its errno module says 2/17
_ENOENT = (2, 44)
_EEXIST = (17, 20)
_EIO = const(5)
_TMP = ".tmp"
_HEX = "0123456789abcdef"


class OsFs:
    """The filesystem calls FlashNvm makes, on the platform's os."""

    def open(self, path, mode):
        return open(path, mode)

    def rename(self, old, new):
        os.rename(old, new)

    def remove(self, path):
        os.remove(path)

    def listdir(self, path):
        if hasattr(os, "ilistdir"):
            return [e[0] for e in os.ilistdir(path)]
        return os.listdir(path)

    def mkdir(self, path):
        os.mkdir(path)

    def sync(self):
        s = getattr(os, "sync", None)
        if s is not None:
            s()


def _missing(e):
    return e.args and e.args[0] in _ENOENT


def key_name(key):
    """The file stem of a key: its UTF-8 bytes in hex."""
    b = key.encode("utf-8")
    out = []
    for c in b:
        out.append(_HEX[c >> 4] + _HEX[c & 0x0F])
    return "".join(out)


def _key_of(stem):
    """The key a file stem names, or None if it is not one."""
    if not stem or len(stem) % 2:
        return None
    b = bytearray(len(stem) // 2)
    for i in range(len(b)):
        hi = _HEX.find(stem[2 * i])
        lo = _HEX.find(stem[2 * i + 1])
        if hi < 0 or lo < 0:
            return None
        b[i] = (hi << 4) | lo
    try:
        return bytes(b).decode("utf-8")
    except (UnicodeError, ValueError):
        return None


class FlashNvm:
    def __init__(self, folder, strict=False, fs=None):
        if not isinstance(folder, str) or not folder:
            raise UsageError("folder")
        self.folder = folder.rstrip("/") or "/"
        self.strict = strict
        self.fs = OsFs() if fs is None else fs
        self.corrupt_keys = set()
        self.writes = 0             # records written (put) and keys deleted
        self._crc = Crc32()
        try:
            self.fs.mkdir(self.folder)
        except OSError as e:
            if not e.args or e.args[0] not in _EEXIST:
                raise
        for name in self.fs.listdir(self.folder):
            if name.endswith(_TMP):             # a put cut before its rename
                self.fs.remove(self._join(name))

    # ---- the NVM interface ------------------------------------------------------------
    def get(self, key):
        """The newest intact value of key, or None."""
        best = self._newest(key)
        return None if best is None else best[1]

    def put(self, key, value):
        """Store a copy of value; after a power cut the key holds the old or the new one."""
        if not isinstance(key, str) or not key:
            raise UsageError("nvm key must be a non-empty str")
        best = self._newest(key)
        gen = 1 if best is None else best[0] + 1
        slot = 0 if best is None or best[2] == 1 else 1
        self._write_slot(key, slot, self.encode(gen, value))
        self.corrupt_keys.discard(key)
        self.writes += 1

    def delete(self, key):
        """Forget key (both slots); no error if absent."""
        if not isinstance(key, str) or not key:
            raise UsageError("nvm key must be a non-empty str")
        gone = False
        for slot in (0, 1):
            try:
                self.fs.remove(self._path(key, slot))
                gone = True
            except OSError as e:
                if not _missing(e):
                    raise
        if gone:
            self.fs.sync()
            self.writes += 1
        self.corrupt_keys.discard(key)

    def keys(self):
        """Every key with an intact record, sorted."""
        out = []
        for name in self.fs.listdir(self.folder):
            dot = name.rfind(".")
            if dot <= 0 or name[dot + 1:] not in ("0", "1"):
                continue
            k = _key_of(name[:dot])
            if k is not None and k not in out and self.get(k) is not None:
                out.append(k)
        out.sort()
        return out

    # ---- records ----------------------------------------------------------------------
    def _crc32(self, data, n):
        c = self._crc
        c.reset()
        c.update(data, 0, n)
        return c.value()

    def encode(self, generation, value):
        """One slot record (bytes) of value at generation."""
        n = len(value)
        rec = bytearray(_HEAD + n + _TAIL)
        for i in range(4):
            rec[i] = _MAGIC[i]
        for i in range(8):
            rec[4 + i] = (generation >> (8 * (7 - i))) & 0xFF
        for i in range(4):
            rec[12 + i] = (n >> (8 * (3 - i))) & 0xFF
        for i in range(n):
            rec[_HEAD + i] = value[i]
        crc = self._crc32(rec, _HEAD + n)
        for i in range(4):
            rec[_HEAD + n + i] = (crc >> (8 * (3 - i))) & 0xFF
        return bytes(rec)

    def decode(self, data):
        """(generation, value) of a complete, intact record, else None."""
        if len(data) < _HEAD + _TAIL or data[0:4] != _MAGIC:
            return None
        n = (data[12] << 24) | (data[13] << 16) | (data[14] << 8) | data[15]
        if len(data) != _HEAD + n + _TAIL:
            return None
        crc = (data[-4] << 24) | (data[-3] << 16) | (data[-2] << 8) | data[-1]
        if self._crc32(data, _HEAD + n) != crc:
            return None
        gen = 0
        for i in range(8):
            gen = (gen << 8) | data[4 + i]
        return gen, bytes(data[_HEAD:_HEAD + n])

    # ---- files ------------------------------------------------------------------------
    def _join(self, name):
        return self.folder + name if self.folder.endswith("/") else self.folder + "/" + name

    def _path(self, key, slot):
        return self._join("%s.%d" % (key_name(key), slot))

    def _read(self, path):
        try:
            f = self.fs.open(path, "rb")
        except OSError as e:
            if _missing(e):
                return None
            raise
        try:
            return f.read()
        finally:
            f.close()

    def _newest(self, key):
        """(generation, value, slot) of the newest intact record, or None."""
        best = None
        seen = False
        for slot in (0, 1):
            data = self._read(self._path(key, slot))
            if data is None:
                continue
            seen = True
            rec = self.decode(data)
            if rec is not None and (best is None or rec[0] > best[0]):
                best = (rec[0], rec[1], slot)
        if best is None and seen:
            self.corrupt_keys.add(key)
            if self.strict:
                raise OSError(_EIO)
        return best

    def _write_slot(self, key, slot, record):
        path = self._path(key, slot)
        tmp = path + _TMP
        f = self.fs.open(tmp, "wb")
        try:
            mv = memoryview(record)
            w = 0
            while w < len(record):
                k = f.write(mv[w:])
                if not k:
                    raise OSError(_EIO)     # the filesystem is full
                w += k
            f.flush()
        finally:
            f.close()
        self.fs.rename(tmp, path)
        self.fs.sync()
