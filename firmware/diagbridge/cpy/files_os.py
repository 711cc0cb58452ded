"""RequestFileTransfer 0x38 file store over a real folder (CPython only).

Same interface as diagbridge.uds.server.file_store.MemFileStore.  Every path is confined
to the sandbox folder: the portable name rules (relative, no '..', '.', empty
components, backslash or drive colon) come first, then the resolved real path
(symlinks followed) must stay inside the sandbox, so a symlink pointing out of
it is refused too (0x31).  A file being written lives in '<name>.part' and
replaces the old one atomically (os.replace after fsync) at
RequestTransferExit; an interrupted one is what ResumeFile continues.  The
'.part' file is opened with O_NOFOLLOW (a new one with O_EXCL after a stale
regular one is removed) and must be a regular file: a symlink, FIFO or
folder planted under that name is refused (0x31), never followed.
"""
import errno
import os
import stat

from diagbridge.uds.server.file_store import check_path

_NRC_ROOR = 0x31
_NRC_UDNA = 0x70
_NRC_GPF = 0x72
_PART = ".part"


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class _NotRegular(Exception):
    """The '.part' name is taken by something that is not a regular file."""


def _open_part(part, resume):
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
        return os.fdopen(fd, "r+b")
    except BaseException:
        os.close(fd)
        raise


class _WriteTarget:
    def __init__(self, part, final, size, pos, resume):
        self._part = part
        self._final = final
        self._size = size
        self._fh = _open_part(part, resume)
        self._fh.truncate(pos)

    def read(self, addr, out, off, count):     # downloads only write
        return 0

    def write(self, addr, data, off, count):
        try:
            self._fh.seek(addr)
            self._fh.write(bytes(data[off:off + count]))
        except OSError:
            return _NRC_GPF
        return 0

    def commit(self):
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            if os.path.getsize(self._part) != self._size:
                return _NRC_GPF
            os.replace(self._part, self._final)
        except OSError:
            return _NRC_GPF
        return 0


class _ReadTarget:
    def __init__(self, path):
        self._path = path

    def read(self, addr, out, off, count):
        with open(self._path, "rb") as fh:
            fh.seek(addr)
            chunk = fh.read(count)
        out[off:off + len(chunk)] = chunk
        return len(chunk)

    def write(self, addr, data, off, count):
        return _NRC_GPF

    def commit(self):
        return 0


class OsFileStore:
    def __init__(self, sandbox, max_file_size=0x100000):
        self.root = os.path.realpath(sandbox)
        if not os.path.isdir(self.root):
            raise ValueError("files.sandbox: not a folder: %s" % sandbox)
        self.max_file_size = max_file_size

    def _real(self, path):
        full = os.path.realpath(os.path.join(self.root, *path.split("/")))
        if full == self.root or full.startswith(self.root + os.sep):
            return full
        return None

    def check_path(self, raw, n=-1):
        p = check_path(raw, n)
        if p is None or p.endswith(_PART) or self._real(p) is None:
            return None
        return p

    def size(self, path):
        full = self._real(path)
        return os.path.getsize(full) if full and os.path.isfile(full) else -1

    def is_dir(self, path):
        full = self._real(path)
        return bool(full) and os.path.isdir(full)

    def delete(self, path):
        full = self._real(path)
        if not full or not os.path.isfile(full):
            return _NRC_ROOR
        try:
            os.remove(full)
        except OSError:
            return _NRC_GPF
        return 0

    def open_write(self, path, size, resume):
        full = self._real(path)
        if not full or os.path.isdir(full):
            return _NRC_ROOR
        part = full + _PART
        try:
            if resume:
                if os.path.islink(part) or not os.path.isfile(part):
                    return _NRC_ROOR
                pos = os.path.getsize(part)
                if pos > size:
                    return _NRC_ROOR
                return _WriteTarget(part, full, size, pos, True), pos
            os.makedirs(os.path.dirname(full), exist_ok=True)
            if self._real(path) != full:    # a symlinked parent appeared meanwhile
                return _NRC_ROOR
            return _WriteTarget(part, full, size, 0, False), 0
        except _NotRegular:
            return _NRC_ROOR
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EEXIST):     # swapped in meanwhile
                return _NRC_ROOR
            return _NRC_UDNA

    def open_read(self, path):
        full = self._real(path)
        if not full or not os.path.isfile(full):
            return _NRC_ROOR
        return _ReadTarget(full), os.path.getsize(full)

    def list_dir(self, path):
        full = self._real(path)
        if not full or not os.path.isdir(full):
            return _NRC_ROOR
        names = []
        for nm in sorted(os.listdir(full)):
            if nm.endswith(_PART):
                continue
            names.append(nm + "/" if os.path.isdir(os.path.join(full, nm)) else nm)
        return "".join(nm + "\n" for nm in names).encode()
