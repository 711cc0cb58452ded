# Minimal test runner that runs *inside* MicroPython (no pytest there).
#
# For every test_*.py in the test directory: import it, call each top-level
# test_*() with no arguments, in source order.  Any exception is a failure;
# a module that fails to import is one failure.  Prints a FAIL line (plus
# traceback) per failure, then one machine-readable line for the caller:
#     @@mpy_runner passed=N failed=M
#
# tools/mpy_run_tests.mjs runs it in the WebAssembly build (main: the whole
# directory in one interpreter), tools/mpy_unix_tests.py in the unix port at a
# fixed heap (main_file: one module per interpreter).  It should also run on a
# board, e.g.:
#   mpremote mount . exec "import sys; sys.path[:0] = ['firmware', 'tools'];
#                          import mpy_runner; mpy_runner.main('tests/core')"
import gc
import os
import sys

try:
    import micropython
except ImportError:  # lets the runner itself be smoke-tested under CPython
    micropython = None


def _unlock_heap():
    # Returns how deep the heap was locked.  heap_unlock() at depth 0 must be
    # avoided: it underflows the lock count and the interpreter hangs on the
    # next allocation.  So lock once first, then unlock down to zero (each
    # heap_unlock() returns the remaining depth).
    if micropython is None or not hasattr(micropython, "heap_lock"):
        return 0
    micropython.heap_lock()
    depth = 0
    while micropython.heap_unlock():
        depth += 1
    return depth


def _test_names(mod, path):
    # Module dicts are unordered in MicroPython, so take the order from the
    # source (as pytest does); anything not found there goes last, sorted.
    found = []
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("def test_"):
                    name = line[4:].split("(")[0].strip()
                    if name not in found:
                        found.append(name)
    except OSError:
        pass
    rest = sorted(n for n in dir(mod) if n.startswith("test_") and n not in found)
    return [n for n in found + rest if callable(getattr(mod, n, None))]


def _fail(label, exc):
    print("FAIL %s: %r" % (label, exc))
    if hasattr(sys, "print_exception"):
        sys.print_exception(exc)
    else:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)


def run_module(modname, src_path):
    # Import one test module and run its tests; returns (passed, failed).
    # src_path is the module's source (for the test order); the module itself
    # may be imported from a .mpy file.
    passed = failed = 0
    try:
        mod = __import__(modname)
    except BaseException as e:
        _unlock_heap()  # before anything that allocates
        _fail(modname + " (import)", e)
        return 0, 1
    for name in _test_names(mod, src_path):
        gc.collect()  # each test starts from a collected heap
        try:
            getattr(mod, name)()
            err = None
        except BaseException as e:
            err = e
        locked = _unlock_heap()
        if err is None and locked:
            err = AssertionError("test returned with the heap still locked (depth %d)" % locked)
        if err is None:
            passed += 1
        else:
            _fail(modname + "." + name, err)
            failed += 1
    return passed, failed


def main(test_dir="/tests/core"):
    if test_dir not in sys.path:
        sys.path.insert(0, test_dir)
    passed = failed = 0
    for fname in sorted(os.listdir(test_dir)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        p, f = run_module(fname[:-3], test_dir + "/" + fname)
        passed += p
        failed += f
    print("@@mpy_runner passed=%d failed=%d" % (passed, failed))
    return failed


def main_file(modname, src_path):
    # One test module only (tools/mpy_unix_tests.py runs one interpreter per file).
    passed, failed = run_module(modname, src_path)
    print("@@mpy_runner passed=%d failed=%d" % (passed, failed))
    return failed


if __name__ == "__main__":
    main(*sys.argv[1:2])
