"""File-backed NVM for the UDS server (CPython only); same interface as
diagbridge.uds.server.nvm.MemNvm: get / put / delete / keys.

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

Deferred writes (the optional NVM interface of ``uds/server/transfer_machine.py``): each
fsync costs a journal commit (milliseconds to tens of milliseconds on an SD
card), and a 1 MiB download is 256 sector keys.  ``put_nowait`` writes and
renames the slot like ``put`` but without any fsync; ``sync_start()`` hands
the written files to a thread that fsyncs them and then the folder once;
``sync_poll()`` says whether it is done (0), running (1) or failed (-1);
``sync()`` waits.  The UDS server answers RequestTransferExit with 0x78
meanwhile instead of blocking.  Crash safety is the same as ``put``'s: a
slot written but not yet synced may be lost or torn, and the key then reads
its other slot, which holds the previous durable record -- because a key
with an unsynced record is synced first before it is written again (its
other slot is the last durable copy).
"""
import errno
import os
import threading
import zlib
from typing import Dict, List, Optional, Set, Tuple

_MAGIC = b"DBNV"
_HEAD = 16                  # magic + generation + length
_TMP = ".tmp"


def encode_record(generation: int, value: bytes) -> bytes:
    """One slot record: magic, generation, length, value, CRC-32."""
    value = bytes(value)
    body = _MAGIC + generation.to_bytes(8, "big") + len(value).to_bytes(4, "big") + value
    return body + zlib.crc32(body).to_bytes(4, "big")


def decode_record(data: bytes) -> Optional[Tuple[int, bytes]]:
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
    """The NVM interface over a folder, two slot files per key (see the top)."""

    def __init__(self, folder: str, strict: bool = False, fsync: bool = True) -> None:
        self.folder = folder
        self.strict = strict
        self._fsync = fsync
        self.corrupt_keys: Set[str] = set()
        self.fsyncs = 0                 # fsync calls made (files and folder)
        self._unsynced: Dict[str, str] = {}     # key -> slot path written by put_nowait
        self._syncing: Dict[str, str] = {}      # the same, handed to the sync thread
        self._thread: Optional[threading.Thread] = None
        self._sync_error: Optional[OSError] = None
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(_TMP):             # a write that never reached its rename
                os.remove(os.path.join(folder, name))

    # ---- interface --------------------------------------------------------------
    def get(self, key: str) -> Optional[bytes]:
        """The newest intact value of key, or None."""
        best = self._newest(key)
        return None if best is None else best[1]

    def put(self, key: str, value: bytes) -> None:
        """Store value durably (fsync'd) before returning."""
        self._put(key, value, self._fsync)

    def put_nowait(self, key: str, value: bytes) -> None:
        """As put(), but durable only after the next sync (no fsync here)."""
        path = self._put(key, value, False)
        if self._fsync:
            self._unsynced[key] = path

    def _put(self, key: str, value: bytes, durable: bool) -> str:
        if not isinstance(key, str):
            raise TypeError("nvm key must be str")
        self._settle(key)
        best = self._newest(key)
        gen = 1 if best is None else best[0] + 1
        slot = 0 if best is None or best[2] == 1 else 1
        path = self._write_slot(key, slot, encode_record(gen, value), durable)
        self.corrupt_keys.discard(key)
        return path

    def sync_start(self) -> None:
        """Begin making every put_nowait durable, in a thread (no wait).
        A sync still running is waited for first; its failure, not yet
        seen by sync_poll, is then reported for this one too."""
        if self._thread is not None:
            self._join()
        else:
            self._sync_error = None
        if not self._unsynced:
            return
        self._syncing = self._unsynced
        self._unsynced = {}
        paths = tuple(self._syncing.values())
        self._thread = threading.Thread(target=self._sync_files, args=(paths,),
                                        name="nvm-sync", daemon=True)
        self._thread.start()

    def sync_poll(self) -> int:
        """0: every put_nowait before the last sync_start is durable;
        1: the sync still runs; -1: it failed (the values may be lost)."""
        t = self._thread
        if t is not None:
            if t.is_alive():
                return 1
            self._join()
        return -1 if self._sync_error is not None else 0

    def sync(self) -> None:
        """Make every put_nowait durable now; OSError if that failed."""
        self.sync_start()
        if self._thread is not None:
            self._join()
        err = self._sync_error
        if err is not None:
            self._sync_error = None
            raise err

    def _join(self) -> None:
        self._thread.join()
        self._thread = None
        self._syncing = {}

    def _settle(self, key: str) -> None:
        # the key's other slot is its only durable record while the newest one
        # is unsynced: make that one durable before the other is overwritten
        if key in self._unsynced or key in self._syncing:
            self.sync()

    def _sync_files(self, paths: Tuple[str, ...]) -> None:
        try:
            for path in paths:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                    self.fsyncs += 1
                finally:
                    os.close(fd)
            self._sync_dir(True)
        except OSError as e:
            self._sync_error = e

    def delete(self, key: str) -> None:
        """Forget key (both slots); no error if absent."""
        self._settle(key)
        for slot in (0, 1):
            try:
                os.remove(self._path(key, slot))
            except FileNotFoundError:
                pass
        self._sync_dir()

    def keys(self) -> List[str]:
        """Every key with an intact record, sorted."""
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
    def _path(self, key: str, slot: int) -> str:
        return os.path.join(self.folder, "%s.%d" % (key.encode("utf-8").hex(), slot))

    def _newest(self, key: str) -> Optional[Tuple[int, bytes, int]]:
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

    def _write_slot(self, key: str, slot: int, record: bytes, durable: bool = True) -> str:
        path = self._path(key, slot)
        tmp = path + _TMP
        with open(tmp, "wb") as f:
            f.write(record)
            f.flush()
            if durable:
                os.fsync(f.fileno())
                self.fsyncs += 1
        os.replace(tmp, path)
        if durable:
            self._sync_dir()
        return path

    def _sync_dir(self, force: bool = False) -> None:
        if not (self._fsync or force) or not hasattr(os, "O_DIRECTORY"):
            return
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
            self.fsyncs += 1
        finally:
            os.close(fd)
