# Portability shims: the only place the core looks at the platform.
# py/parse.c folds `X = const(n)` by the name `const`, so the CPython fallback
# costs nothing on a board.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

try:
    from micropython import heap_lock, heap_unlock
except ImportError:
    # CPython has no allocation lock; tests that need the proof run under MicroPython.
    def heap_lock():
        return 0

    def heap_unlock():
        return 0


# copy_into(dst, d, src, s, n): dst[d:d+n] = src[s:s+n], the bulk copy of the
# per-frame hot paths (CAN-TP payload bytes, padding).  The caller guarantees
# that both ranges exist (a short source would shrink a bytearray dst).
# Where a slice allocates (MicroPython: `src[s:s+n]` is a new object, which
# fails under heap_lock) the index loop is used instead; the choice is made
# once, here, by trying a slice copy with the heap locked.
def _slice_copy(dst, d, src, s, n):
    dst[d:d + n] = src[s:s + n]


def _index_copy(dst, d, src, s, n):
    for i in range(n):
        dst[d + i] = src[s + i]


def _slices_allocate():
    dst = bytearray(4)
    src = b"\x01\x02\x03\x04"
    heap_lock()
    try:
        _slice_copy(dst, 1, src, 1, 2)
        ok = True
    except MemoryError:
        ok = False
    finally:
        heap_unlock()
    return not ok or dst != b"\x00\x02\x03\x00"


copy_into = _index_copy if _slices_allocate() else _slice_copy
