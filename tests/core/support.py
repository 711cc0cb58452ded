# Helpers shared by the core tests; portable (pytest and MicroPython).
import sys

MICROPYTHON = sys.implementation.name == "micropython"


def run_locked(fn):
    """Call fn() with the heap locked under MicroPython, so any allocation in
    it raises MemoryError and fails the test.  On CPython it just calls fn():
    the proof comes from the MicroPython stage running the same test."""
    if not MICROPYTHON:
        return fn()
    import micropython
    micropython.heap_lock()
    try:
        return fn()
    finally:
        micropython.heap_unlock()


def raises(exc, fn, *args):
    """True if fn(*args) raises exc (pytest.raises is not on MicroPython)."""
    try:
        fn(*args)
    except exc:
        return True
    return False
