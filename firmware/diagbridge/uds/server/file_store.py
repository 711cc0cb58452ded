# File stores behind RequestFileTransfer 0x38 (ISO 14229-1 §15.6, digest
# §9.5).  A store maps a filePathAndName to file data and hands the transfer
# machine (uds/server/transfer_machine.py) a *target* for TransferData:
#   read(addr, out, off, count) -> count   write(addr, data, off, count) -> 0|NRC
#   commit() -> 0|NRC      discard(): the write was aborted, free it
#
# Store interface (MemFileStore here, OsFileStore in cpy/files_os.py):
#   check_path(raw) -> str | None   None: the name is not acceptable (0x31)
#   size(path) -> int               -1: no such file
#   is_dir(path) -> bool
#   delete(path) -> 0 | NRC
#   open_write(path, size, resume) -> (target, position) | NRC
#   open_read(path) -> (target, size) | NRC
#   list_dir(path) -> bytes | NRC   directory information (one name per line,
#                                   directories end in '/'; VM format)
#   max_file_size                   bytes; larger files are 0x31
#   max_open_bytes                  bytes all open writes may hold together;
#                                   a write past it is 0x70 (digest §9.5)
#   held                            bytes the open writes hold now
#
# An open write holds its bytes until RequestTransferExit commits it or the
# transfer machine's abort (session change, S3 timeout, reset, 0x71) calls
# discard(), which frees them.  ResumeFile continues a write that neither
# committed nor was aborted (cut by a power loss: cpy/files_os.py keeps the
# '.part' file; a MemFileStore built again over survives in simulation only).
#
# Paths are relative, '/'-separated, without empty, '.' or '..' components:
# the server decides where they live, the tester never does.
from diagbridge.uds.nrc import NRC_ROOR, NRC_UDNA
from diagbridge.errors import ConfigError



def check_path(raw, n=-1):
    """The path as str if acceptable, else None.  raw: bytes-like (n bytes).
    One trailing '/' (a directory for ReadDir) is dropped."""
    if n < 0:
        n = len(raw)
    if n == 0 or n > 255:
        return None
    for i in range(n):
        c = raw[i]
        # printable ASCII only; no backslash, colon (drive letters) or NUL
        if c < 0x20 or c > 0x7E or c == 0x5C or c == 0x3A:
            return None
    path = bytes(raw[i] for i in range(n)).decode()
    if path[-1] == "/":
        path = path[:-1]
    if not path or path[0] == "/":
        return None
    for part in path.split("/"):
        if part == "" or part == "." or part == "..":
            return None
    return path


class _BytesTarget:
    """TransferData target over a bytearray (file data or directory info)."""

    def __init__(self, data, store=None, path=None):
        self.data = data
        self.length = 0          # bytes written so far (for ResumeFile)
        self._store = store
        self._path = path

    def read(self, addr, out, off, count):
        d = self.data
        for j in range(count):
            out[off + j] = d[addr + j]
        return count

    def write(self, addr, data, off, count):
        d = self.data
        for j in range(count):
            d[addr + j] = data[off + j]
        if addr + count > self.length:
            self.length = addr + count
        return 0

    def commit(self):
        if self._store is not None:
            return self._store._committed(self._path, self)
        return 0

    def discard(self):
        if self._store is not None:
            self._store._discarded(self._path, self)


class MemFileStore:
    """Portable in-memory file system (simulation, tests, boards without a
    file system).  Directories exist implicitly as path prefixes.  A write in
    progress (or interrupted: ResumeFile) lives apart from the complete file,
    which stays readable until the new content is committed."""

    def __init__(self, max_file_size=65536, max_files=32, max_open_bytes=-1):
        if max_open_bytes < 0:
            max_open_bytes = max_file_size
        if max_file_size < 0 or max_open_bytes < 0:
            raise ConfigError("files.max_open_bytes")
        self.max_file_size = max_file_size
        self.max_files = max_files
        self.max_open_bytes = max_open_bytes
        self.held = 0           # bytes of the writes in _partial
        self._files = {}        # path -> complete _BytesTarget
        self._partial = {}      # path -> _BytesTarget being written

    def check_path(self, raw, n=-1):
        return check_path(raw, n)

    def add(self, path, data):
        """Put a complete file (profiles, tests)."""
        t = _BytesTarget(bytearray(data))
        t.length = len(data)
        self._files[path] = t

    def content(self, path):
        t = self._files.get(path)
        return None if t is None else bytes(t.data[:t.length])

    def size(self, path):
        t = self._files.get(path)
        return -1 if t is None else t.length

    def is_dir(self, path):
        prefix = path + "/"
        for d in (self._files, self._partial):
            for p in d:
                if p.startswith(prefix):
                    return True
        return False

    def delete(self, path):
        if path not in self._files:
            return NRC_ROOR
        del self._files[path]
        t = self._partial.get(path)
        if t is not None:
            self._discarded(path, t)
        return 0

    def open_write(self, path, size, resume):
        if self.is_dir(path):
            return NRC_ROOR
        if resume:
            t = self._partial.get(path)
            if t is None or len(t.data) != size:
                return NRC_ROOR        # nothing to resume, or another size
            return t, t.length
        if path not in self._files and len(self._files) >= self.max_files:
            return NRC_UDNA
        old = self._partial.get(path)
        if old is not None:
            self._discarded(path, old)     # a new write replaces one never resumed
        if self.held + size > self.max_open_bytes:
            return NRC_UDNA
        # the file's own storage, once per open write; blocks land in it
        t = _BytesTarget(bytearray(size), self, path)
        self._partial[path] = t
        self.held += size
        return t, 0

    def _committed(self, path, t):
        self._files[path] = t
        if self._partial.get(path) is t:
            del self._partial[path]
            self.held -= len(t.data)
        return 0

    def _discarded(self, path, t):
        if self._partial.get(path) is t:
            del self._partial[path]
            self.held -= len(t.data)
        t.data = bytearray(0)           # freed even if someone still holds t
        t.length = 0

    def open_read(self, path):
        t = self._files.get(path)
        if t is None:
            return NRC_ROOR
        return _BytesTarget(t.data), t.length

    def list_dir(self, path):
        if not self.is_dir(path):
            return NRC_ROOR
        prefix = path + "/"
        names = []
        for p in sorted(self._files):
            if p.startswith(prefix):
                rest = p[len(prefix):]
                k = rest.find("/")
                name = rest if k < 0 else rest[:k + 1]
                if name not in names:
                    names.append(name)
        return "".join(nm + "\n" for nm in names).encode()
