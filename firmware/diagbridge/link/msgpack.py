# The msgpack subset the gateway speaks (https://github.com/msgpack/msgpack/blob/master/spec.md).
#
# Encoding: nil, bool, int (every width, negative too), bin 8/16/32,
# str 8/16/32 (from utf-8 bytes), array and map headers (fix/16/32).  The
# gateway never encodes floats (pack_obj raises UsageError for one).
# Decoding: all of the above plus float 32/64; ext types are skipped or
# reported as unsupported.
#
# Two speeds:
#   pack_*(buf, i, ...) -> i    write one item at buf[i:], return the index
#                               after it.  Allocation-free for small ints and
#                               for bin/str copied from an existing buffer:
#                               the per-CAN-frame event path.  Writing past the
#                               end of buf raises IndexError (size buffers from
#                               max_frame; the session turns it into UsageError).
#   Reader                      a cursor over a received message: headers and
#                               ints read without allocation (what the session
#                               needs to route a request); read_obj() builds
#                               Python objects and allocates (lists, dicts,
#                               bytes, str, ints >= 2**30, floats).
#
# A malformed or truncated message never raises: the Reader's `ok` turns
# False and stays False, reads return 0; `unsupported` is also set when the
# reason is an ext type, or a float on a port built without floats
# (MICROPY_FLOAT_IMPL_NONE has no `float`; the NameError is caught).  With
# single-precision floats (many boards) a float64 is rounded to 32 bits.
from diagbridge._compat import const
from diagbridge.errors import UsageError

# Item types reported by Reader.head()
T_BAD = const(0)    # truncated, the never-used byte 0xC1, or `ok` already False
T_NIL = const(1)
T_BOOL = const(2)
T_INT = const(3)
T_FLOAT = const(4)
T_STR = const(5)
T_BIN = const(6)
T_ARRAY = const(7)
T_MAP = const(8)
T_EXT = const(9)

MAX_DEPTH = const(16)   # read_obj nesting limit (a hostile peer cannot exhaust the stack)


# ---- encoding ---------------------------------------------------------------
def _be(buf, i, v, n):
    # v as n big-endian bytes at buf[i:]
    j = i + n - 1
    while j >= i:
        buf[j] = v & 0xFF
        v >>= 8
        j -= 1
    return i + n


def pack_nil(buf, i):
    buf[i] = 0xC0
    return i + 1


def pack_bool(buf, i, v):
    buf[i] = 0xC3 if v else 0xC2
    return i + 1


def pack_int(buf, i, v):
    if v >= 0:
        if v < 0x80:
            buf[i] = v
            return i + 1
        if v < 0x100:
            buf[i] = 0xCC
            buf[i + 1] = v
            return i + 2
        if v < 0x10000:
            buf[i] = 0xCD
            return _be(buf, i + 1, v, 2)
        if v <= 0xFFFFFFFF:
            buf[i] = 0xCE
            return _be(buf, i + 1, v, 4)
        if v <= 0xFFFFFFFFFFFFFFFF:
            buf[i] = 0xCF
            return _be(buf, i + 1, v, 8)
        raise UsageError("int too large for msgpack")
    if v >= -32:
        buf[i] = v & 0xFF
        return i + 1
    if v >= -0x80:
        buf[i] = 0xD0
        buf[i + 1] = v & 0xFF
        return i + 2
    if v >= -0x8000:
        buf[i] = 0xD1
        return _be(buf, i + 1, v & 0xFFFF, 2)
    if v >= -0x80000000:
        buf[i] = 0xD2
        return _be(buf, i + 1, v & 0xFFFFFFFF, 4)
    if v >= -0x8000000000000000:
        buf[i] = 0xD3
        return _be(buf, i + 1, v & 0xFFFFFFFFFFFFFFFF, 8)
    raise UsageError("int too small for msgpack")


def pack_uint16(buf, i, v):
    """v (0..65535) always as uint16 (0xCD): a fixed-width field to patch later."""
    buf[i] = 0xCD
    buf[i + 1] = (v >> 8) & 0xFF
    buf[i + 2] = v & 0xFF
    return i + 3


def _header(buf, i, n, fix, fixmax, c8, c16, c32):
    if n <= fixmax:
        buf[i] = fix | n
        return i + 1
    if c8 and n < 0x100:
        buf[i] = c8
        buf[i + 1] = n
        return i + 2
    if n < 0x10000:
        buf[i] = c16
        return _be(buf, i + 1, n, 2)
    buf[i] = c32
    return _be(buf, i + 1, n, 4)


def pack_array_header(buf, i, n):
    return _header(buf, i, n, 0x90, 15, 0, 0xDC, 0xDD)


def pack_map_header(buf, i, n):
    return _header(buf, i, n, 0x80, 15, 0, 0xDE, 0xDF)


def pack_bin_header(buf, i, n):
    # bin has no fix form: 0xC4 n even for n < 32
    return _header(buf, i, n, 0, -1, 0xC4, 0xC5, 0xC6)


def pack_str_header(buf, i, n):
    return _header(buf, i, n, 0xA0, 31, 0xD9, 0xDA, 0xDB)


def _copy(buf, i, data, start, n):
    for k in range(n):
        buf[i + k] = data[start + k]
    return i + n


def pack_bin(buf, i, data, n, start=0):
    """data[start:start+n] as bin."""
    return _copy(buf, pack_bin_header(buf, i, n), data, start, n)


def pack_str(buf, i, data, n, start=0):
    """utf-8 bytes data[start:start+n] as str (the gateway keeps text as bytes)."""
    return _copy(buf, pack_str_header(buf, i, n), data, start, n)


def pack_obj(buf, i, obj, depth=0):
    """Any supported Python value (None, bool, int, bytes-like, str, list,
    tuple, dict).  Allocates (iterating dicts and encoding str); not for
    per-frame paths."""
    if depth > MAX_DEPTH:
        raise UsageError("msgpack nesting too deep")
    if obj is None:
        return pack_nil(buf, i)
    if obj is True or obj is False:
        return pack_bool(buf, i, obj)
    if isinstance(obj, int):
        return pack_int(buf, i, obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return pack_bin(buf, i, obj, len(obj))
    if isinstance(obj, str):
        b = obj.encode()
        return pack_str(buf, i, b, len(b))
    if isinstance(obj, (list, tuple)):
        i = pack_array_header(buf, i, len(obj))
        for x in obj:
            i = pack_obj(buf, i, x, depth + 1)
        return i
    if isinstance(obj, dict):
        i = pack_map_header(buf, i, len(obj))
        for k in obj:
            i = pack_obj(buf, i, k, depth + 1)
            i = pack_obj(buf, i, obj[k], depth + 1)
        return i
    raise UsageError("type not encodable by the gateway's msgpack subset")


def packb(obj, size=256):
    """obj as msgpack bytes (allocates; tests and non-hot paths)."""
    while True:
        buf = bytearray(size)
        try:
            return bytes(buf[:pack_obj(buf, 0, obj)])
        except IndexError:
            size *= 4


# ---- decoding ---------------------------------------------------------------
def _float_from_bits(u, ebits, mbits):
    # IEEE 754 bits -> float, without struct.  Powers of two are exact, so the
    # result is exact wherever the port's float is binary64.
    bias = (1 << (ebits - 1)) - 1
    sign = (u >> (ebits + mbits)) & 1
    e = (u >> mbits) & ((1 << ebits) - 1)
    m = u & ((1 << mbits) - 1)
    if e == (1 << ebits) - 1:
        v = float("nan") if m else float("inf")
    elif e == 0:
        v = float(m) * (float(2) ** (1 - bias - mbits))
    else:
        v = float(m | (1 << mbits)) * (float(2) ** (e - bias - mbits))
    return -v if sign else v


class Reader:
    """A cursor over buf[start:end].  head() reads one item's header and sets
    `type`, `n` (int value, length of str/bin/ext, count of array/map) and
    `start` (first data byte of str/bin/ext, the cursor moves past the data;
    for a float its width, 4 or 8, with the raw bits in `n`)."""

    def __init__(self, buf=None, start=0, end=0):
        self.reset(buf, start, end)

    def reset(self, buf, start, end):
        self.buf = buf
        self.pos = start
        self.end = end
        self.ok = True
        self.unsupported = False
        self.type = T_BAD
        self.n = 0
        self.start = 0

    def _fail(self):
        self.ok = False
        self.type = T_BAD
        self.n = 0
        return T_BAD

    def _uint(self, k):
        p = self.pos
        if p + k > self.end:
            self.ok = False
            return 0
        buf = self.buf
        v = 0
        for j in range(k):
            v = (v << 8) | buf[p + j]
        self.pos = p + k
        return v

    def _data(self, t, n):
        # str/bin/ext payload of n bytes at the cursor
        if not self.ok or self.pos + n > self.end:
            return self._fail()
        self.start = self.pos
        self.pos += n
        self.type = t
        self.n = n
        return t

    def _set(self, t, n):
        if not self.ok:
            return self._fail()
        self.type = t
        self.n = n
        return t

    def head(self):
        """Read the next item's header; returns its type (T_BAD at the end)."""
        if not self.ok or self.pos >= self.end:
            return self._fail()
        b = self.buf[self.pos]
        self.pos += 1
        if b < 0x80:
            return self._set(T_INT, b)
        if b >= 0xE0:
            return self._set(T_INT, b - 0x100)
        if b < 0x90:
            return self._set(T_MAP, b & 0x0F)
        if b < 0xA0:
            return self._set(T_ARRAY, b & 0x0F)
        if b < 0xC0:
            return self._data(T_STR, b & 0x1F)
        if b == 0xC0:
            return self._set(T_NIL, 0)
        if b == 0xC2 or b == 0xC3:
            return self._set(T_BOOL, b & 1)
        if 0xC4 <= b <= 0xC6:
            return self._data(T_BIN, self._uint(1 << (b - 0xC4)))
        if 0xC7 <= b <= 0xC9:
            n = self._uint(1 << (b - 0xC7))
            self._uint(1)                           # the ext type byte
            self.unsupported = True
            return self._data(T_EXT, n)
        if b == 0xCA or b == 0xCB:
            self.start = 4 if b == 0xCA else 8     # width, for read_obj
            return self._set(T_FLOAT, self._uint(self.start))
        if 0xCC <= b <= 0xCF:
            return self._set(T_INT, self._uint(1 << (b - 0xCC)))
        if 0xD0 <= b <= 0xD3:
            k = 1 << (b - 0xD0)
            v = self._uint(k)
            if v >> (8 * k - 1):
                v -= 1 << (8 * k)
            return self._set(T_INT, v)
        if 0xD4 <= b <= 0xD8:
            self._uint(1)
            self.unsupported = True
            return self._data(T_EXT, 1 << (b - 0xD4))
        if 0xD9 <= b <= 0xDB:
            return self._data(T_STR, self._uint(1 << (b - 0xD9)))
        if b == 0xDC or b == 0xDD:
            return self._set(T_ARRAY, self._uint(2 if b == 0xDC else 4))
        if b == 0xDE or b == 0xDF:
            return self._set(T_MAP, self._uint(2 if b == 0xDE else 4))
        return self._fail()                         # 0xC1: never used

    def read_int(self):
        """An int (0 and ok=False for anything else); floats are not ints."""
        if self.head() != T_INT:
            return self._fail()
        return self.n

    def read_array(self):
        if self.head() != T_ARRAY:
            return self._fail()
        return self.n

    def read_map(self):
        if self.head() != T_MAP:
            return self._fail()
        return self.n

    def read_bin(self):
        """Length of a bin (or str) item; its bytes are buf[start:start+n]."""
        t = self.head()
        if t != T_BIN and t != T_STR:
            return self._fail()
        return self.n

    def skip(self):
        """Step over one whole item, containers included (no recursion)."""
        todo = 1
        while todo:
            t = self.head()
            if t == T_BAD:
                return False
            todo -= 1
            if t == T_ARRAY:
                todo += self.n
            elif t == T_MAP:
                todo += 2 * self.n
        return True

    def seek_key(self, key, count):
        """With the cursor just after a map header of `count` pairs: move to the
        value of int key `key` and return True; False (cursor at the end of the
        map) if absent.  Other keys' values are skipped."""
        for _ in range(count):
            if self.head() == T_INT and self.n == key:
                return True
            if not self.ok or not self.skip():
                return False
        return False

    def read_obj(self, depth=0):
        """The next item as a Python object (allocates).  None with ok=False
        on a malformed message."""
        t = self.head()
        if t == T_INT:
            return self.n
        if t == T_NIL:
            return None
        if t == T_BOOL:
            return self.n == 1
        if t == T_BIN:
            return bytes(self.buf[self.start:self.pos])
        if t == T_STR:
            try:
                return bytes(self.buf[self.start:self.pos]).decode()
            except Exception:           # UnicodeError: not utf-8
                self._fail()
                return None
        if t == T_FLOAT:
            try:
                if self.start == 4:
                    return _float_from_bits(self.n, 8, 23)
                return _float_from_bits(self.n, 11, 52)
            except NameError:           # a port without float support
                self.unsupported = True
                self._fail()
                return None
        if (t != T_ARRAY and t != T_MAP) or depth >= MAX_DEPTH:
            self._fail()                # T_BAD, T_EXT (unsupported set), too deep
            return None
        n = self.n
        if n > self.end - self.pos:     # each item takes at least one byte
            self._fail()
            return None
        if t == T_ARRAY:
            out = []
            for _ in range(n):
                out.append(self.read_obj(depth + 1))
                if not self.ok:
                    return None
            return out
        out = {}
        for _ in range(n):
            k = self.read_obj(depth + 1)
            v = self.read_obj(depth + 1)
            if not self.ok:
                return None
            try:
                if k in out:            # a duplicate (also 1 vs True vs 1.0):
                    self._fail()        # ambiguous, so malformed
                    return None
                out[k] = v
            except TypeError:           # an unhashable key (array or map)
                self._fail()
                return None
        return out
