"""RequestFileTransfer 0x38 file store over a real folder (CPython only).

Same interface as diagbridge.uds.server.file_store.MemFileStore.  Every path is confined
to the sandbox folder: the portable name rules (relative, no '..', '.', empty
components, backslash or drive colon) come first, then the resolved real path
(symlinks followed) must stay inside the sandbox, so a symlink pointing out of
it is refused too (0x31).  A file being written lives in '<name>.part' and
replaces the old one atomically (os.replace after fsync) at
RequestTransferExit; one cut by a power loss is what ResumeFile continues.  The
'.part' file is opened with O_NOFOLLOW (a new one with O_EXCL after a stale
regular one is removed) and must be a regular file: a symlink, FIFO or
folder planted under that name is refused (0x31), never followed.

Blocks stream into the '.part' file as they come (nothing of the file is
held in RAM).  An aborted write (discard(): session change, S3 timeout,
reset) closes and deletes its '.part'; the bytes all open writes reserve are
bounded by ``max_open_bytes`` (past it: 0x70).  ResumeFile continues a
'.part' that a power loss left behind.
"""
import errno
import os
import stat
from typing import BinaryIO, Dict, Optional, Tuple, Union

from diagbridge.uds.server.file_store import check_path

_NRC_ROOR = 0x31
_NRC_UDNA = 0x70
_NRC_GPF = 0x72
_NRC_CNC = 0x22
_PART = ".part"


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class _NotRegular(Exception):
    """The '.part' name is taken by something that is not a regular file."""


def _open_part(part: str, resume: bool) -> BinaryIO:
    """A file object on the regular file `part`: the existing one (resume) or
    a new, empty one.  Raises _NotRegular or OSError."""
    if resume:
        fd = os.open(part, os.O_RDWR | _NOFOLLOW | _BINARY)
    else:
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            st = None
        if st is not None:
            if not stat.S_ISREG(st.st_mode):
                raise _NotRegular()
            os.remove(part)             # a stale regular file from an aborted write
        fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _NotRegular()
        return os.fdopen(fd, "r+b", buffering=0)     # each block reaches the file at once
    except BaseException:
        os.close(fd)
        raise


class _WriteTarget:
    """An open write: blocks go straight to the '.part' file."""

    def __init__(self, store: "OsFileStore", part: str, final: str, size: int,
                 pos: int, resume: bool) -> None:
        self._store = store
        self._part = part
        self._final = final
        self.size = size
        self._fh = _open_part(part, resume)
        self._fh.truncate(pos)

    def read(self, addr: int, out: bytearray, off: int, count: int) -> int:
        return 0                                # downloads only write

    def write(self, addr: int, data: bytes, off: int, count: int) -> int:
        try:
            self._fh.seek(addr)
            mv = memoryview(data)[off:off + count]
            while mv:                           # a raw write may take part of it
                mv = mv[self._fh.write(mv):]
        except (OSError, ValueError):           # ValueError: closed by a failed commit
            return _NRC_GPF
        return 0

    def commit(self) -> int:
        """fsync, then replace the old file atomically: 0 or 0x72."""
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            if os.path.getsize(self._part) != self.size:
                return _NRC_GPF
            os.replace(self._part, self._final)
        except (OSError, ValueError):
            return _NRC_GPF
        self._store._closed(self)
        return 0

    def discard(self) -> None:
        """The write was aborted: close and delete the '.part' file."""
        try:
            self._fh.close()
        except OSError:
            pass
        try:
            st = os.lstat(self._part)
            if stat.S_ISREG(st.st_mode):
                os.remove(self._part)
        except OSError:
            pass
        self._store._closed(self)


class _ReadTarget:
    def __init__(self, path: str) -> None:
        self._path = path

    def read(self, addr: int, out: bytearray, off: int, count: int) -> int:
        with open(self._path, "rb") as fh:
            fh.seek(addr)
            chunk = fh.read(count)
        out[off:off + len(chunk)] = chunk
        return len(chunk)

    def write(self, addr: int, data: bytes, off: int, count: int) -> int:
        return _NRC_GPF

    def commit(self) -> int:
        return 0


OpenResult = Union[int, Tuple[_WriteTarget, int]]


class OsFileStore:
    """0x38 files in the folder `sandbox`.  max_open_bytes: the bytes all open
    writes may reserve together (default max_file_size); held: reserved now."""

    def __init__(self, sandbox: str, max_file_size: int = 0x100000,
                 max_open_bytes: Optional[int] = None) -> None:
        self.root = os.path.realpath(sandbox)
        if not os.path.isdir(self.root):
            raise ValueError("files.sandbox: not a folder: %s" % sandbox)
        self.max_file_size = max_file_size
        self.max_open_bytes = max_file_size if max_open_bytes is None else max_open_bytes
        if self.max_open_bytes < 0:
            raise ValueError("files.max_open_bytes: must be >= 0")
        self.held = 0
        self._open: Dict[str, _WriteTarget] = {}    # '.part' path -> its open write

    def _closed(self, t: _WriteTarget) -> None:
        if self._open.get(t._part) is t:
            del self._open[t._part]
            self.held -= t.size

    def _real(self, path: str) -> Optional[str]:
        full = os.path.realpath(os.path.join(self.root, *path.split("/")))
        if full == self.root or full.startswith(self.root + os.sep):
            return full
        return None

    def check_path(self, raw: bytes, n: int = -1) -> Optional[str]:
        p = check_path(raw, n)
        if p is None or p.endswith(_PART) or self._real(p) is None:
            return None
        return p

    def size(self, path: str) -> int:
        full = self._real(path)
        return os.path.getsize(full) if full and os.path.isfile(full) else -1

    def is_dir(self, path: str) -> bool:
        full = self._real(path)
        return bool(full) and os.path.isdir(full)

    def delete(self, path: str) -> int:
        full = self._real(path)
        if not full or not os.path.isfile(full):
            return _NRC_ROOR
        try:
            os.remove(full)
        except OSError:
            return _NRC_GPF
        return 0

    def open_write(self, path: str, size: int, resume: bool) -> OpenResult:
        """(target, filePosition) or an NRC: 0x31 bad name / nothing to
        resume, 0x70 over max_open_bytes or the folder refuses."""
        full = self._real(path)
        if not full or os.path.isdir(full):
            return _NRC_ROOR
        part = full + _PART
        old = self._open.get(part)
        if old is not None:
            if resume:
                return _NRC_CNC                 # the write is still open
            old.discard()                       # replaced by this one
        if self.held + size > self.max_open_bytes:
            return _NRC_UDNA
        try:
            if resume:
                if os.path.islink(part) or not os.path.isfile(part):
                    return _NRC_ROOR
                pos = os.path.getsize(part)
                if pos > size:
                    return _NRC_ROOR
                t = _WriteTarget(self, part, full, size, pos, True)
            else:
                os.makedirs(os.path.dirname(full), exist_ok=True)
                if self._real(path) != full:    # a symlinked parent appeared meanwhile
                    return _NRC_ROOR
                t = _WriteTarget(self, part, full, size, 0, False)
                pos = 0
        except _NotRegular:
            return _NRC_ROOR
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EEXIST):     # swapped in meanwhile
                return _NRC_ROOR
            return _NRC_UDNA
        self._open[part] = t
        self.held += size
        return t, pos

    def open_read(self, path: str) -> Union[int, Tuple[_ReadTarget, int]]:
        full = self._real(path)
        if not full or not os.path.isfile(full):
            return _NRC_ROOR
        return _ReadTarget(full), os.path.getsize(full)

    def list_dir(self, path: str) -> Union[int, bytes]:
        full = self._real(path)
        if not full or not os.path.isdir(full):
            return _NRC_ROOR
        names = []
        for nm in sorted(os.listdir(full)):
            if nm.endswith(_PART):
                continue
            names.append(nm + "/" if os.path.isdir(os.path.join(full, nm)) else nm)
        return "".join(nm + "\n" for nm in names).encode()
