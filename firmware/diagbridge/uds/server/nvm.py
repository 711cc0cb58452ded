# Non-volatile memory: the small key/value store the UDS server persists
# written DIDs, written memory and the SecurityAccess attempt state in.
#
# Interface (every store implements it):
#   get(key) -> bytes | None     the last value put, or None
#   put(key, value)              store a copy; atomic per key: after a power
#                                loss the key holds the old or the new value
#   delete(key)                  forget the key (no error if absent)
#   keys() -> list of str
# A store that cannot write raises OSError; the server answers 0x72
# generalProgrammingFailure.  Keys are short str, values bytes.
# Atomicity is per key only: keys that must change together (the memory
# image's sectors) are made consistent above the store, by writing new keys
# and then flipping one record (uds/server/mem_store.py).
#
# MemNvm is the simulation store (a dict).  The CPython file store is
# diagbridge.cpy.nvm_file.FileNvm; a board flash-file store can follow the
# same interface.
from diagbridge.errors import UsageError


class MemNvm:
    def __init__(self, contents=None):
        self._d = {}
        self.writes = 0         # put/delete count: tests use it to prove persistence
        self.fail_writes = False  # test hook: the next puts raise OSError
        if contents:
            for k in contents:
                self.put(k, contents[k])

    def get(self, key):
        return self._d.get(key)

    def put(self, key, value):
        if not isinstance(key, str):
            raise UsageError("nvm key must be str")
        if self.fail_writes:
            raise OSError(5)    # EIO
        self._d[key] = bytes(value)
        self.writes += 1

    def delete(self, key):
        if key in self._d:
            del self._d[key]
            self.writes += 1

    def keys(self):
        return list(self._d)

    def power_cycle(self):
        """Simulated power loss: the contents survive (they are non-volatile);
        returns self so a new server can be built on it."""
        self.fail_writes = False
        return self
