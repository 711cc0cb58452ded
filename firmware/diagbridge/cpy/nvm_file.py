"""File-backed NVM for the UDS server (CPython only); same interface as
diagbridge.uds.nvm.MemNvm: get / put / delete / keys.

Each key lives in two slot files, ``<hexkey>.0`` and ``<hexkey>.1``.  A slot
holds one record::

    b"DBNV" | generation (8, big-endian) | length (4) | value | CRC-32 (4)

with the CRC over everything before it.  ``put`` writes the slot that does
*not* hold the newest good record: temp file, fsync, ``os.replace``, fsync of
the folder.  So a write cut at any byte -- a torn temp file, or a torn slot
on a file system without atomic rename -- leaves the other slot's complete
record, and ``get`` returns the old or the new value, never garbage.  If both
slots of a key are corrupt, ``get`` returns None (the profile default) and
names the key in ``corrupt_keys``; with ``strict=True`` it raises OSError.
"""
import errno
import os
import zlib

_MAGIC = b"DBNV"
_HEAD = 16                  # magic + generation + length
_TMP = ".tmp"


def encode_record(generation, value):
    value = bytes(value)
    body = _MAGIC + generation.to_bytes(8, "big") + len(value).to_bytes(4, "big") + value
    return body + zlib.crc32(body).to_bytes(4, "big")


def decode_record(data):
    """(generation, value) of a complete, intact record, else None."""
    if len(data) < _HEAD + 4 or data[:4] != _MAGIC:
        return None
    n = int.from_bytes(data[12:16], "big")
    if len(data) != _HEAD + n + 4:
        return None
    if zlib.crc32(data[:-4]) != int.from_bytes(data[-4:], "big"):
        return None
    return int.from_bytes(data[4:12], "big"), bytes(data[_HEAD:_HEAD + n])


class FileNvm:
    def __init__(self, folder, strict=False, fsync=True):
        self.folder = folder
        self.strict = strict
        self._fsync = fsync
        self.corrupt_keys = set()
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(_TMP):             # a write that never reached its rename
                os.remove(os.path.join(folder, name))

    # ---- interface --------------------------------------------------------------
    def get(self, key):
        best = self._newest(key)
        return None if best is None else best[1]

    def put(self, key, value):
        if not isinstance(key, str):
            raise TypeError("nvm key must be str")
        best = self._newest(key)
        gen = 1 if best is None else best[0] + 1
        slot = 0 if best is None or best[2] == 1 else 1
        self._write_slot(key, slot, encode_record(gen, value))
        self.corrupt_keys.discard(key)

    def delete(self, key):
        for slot in (0, 1):
            try:
                os.remove(self._path(key, slot))
            except FileNotFoundError:
                pass
        self._sync_dir()

    def keys(self):
        out = set()
        for name in os.listdir(self.folder):
            stem, _, slot = name.rpartition(".")
            if slot in ("0", "1") and stem:
                try:
                    k = bytes.fromhex(stem).decode("utf-8")
                except ValueError:
                    continue
                if self.get(k) is not None:
                    out.add(k)
        return sorted(out)

    # ---- files ------------------------------------------------------------------
    def _path(self, key, slot):
        return os.path.join(self.folder, "%s.%d" % (key.encode("utf-8").hex(), slot))

    def _newest(self, key):
        """(generation, value, slot) of the newest intact record, or None."""
        best = None
        seen = False
        for slot in (0, 1):
            try:
                with open(self._path(key, slot), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            seen = True
            rec = decode_record(data)
            if rec is not None and (best is None or rec[0] > best[0]):
                best = (rec[0], rec[1], slot)
        if best is None and seen:
            self.corrupt_keys.add(key)
            if self.strict:
                raise OSError(errno.EIO, "nvm: every copy of %r is corrupt" % key)
        return best

    def _write_slot(self, key, slot, record):
        path = self._path(key, slot)
        tmp = path + _TMP
        with open(tmp, "wb") as f:
            f.write(record)
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        self._sync_dir()

    def _sync_dir(self):
        if not self._fsync or not hasattr(os, "O_DIRECTORY"):
            return
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
