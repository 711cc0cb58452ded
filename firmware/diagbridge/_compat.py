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
