"""Where the heap goes (figures, not a test): import cost per module and the
largest preallocated buffers, under the MicroPython unix port from .mpy files.

    tools/mem_imports.py                 both tables
    tools/mem_imports.py --top 40        more rows of the import table
    tools/mem_imports.py --entry diagbridge.ecu --entry ...   other entry points

Import table: for each entry point (its own interpreter, fixed heap), every
module it loads with "self" (the heap the module's own body keeps: its
functions, classes, constant tables) and "incl" (with the modules it imported
first); tools/mem_probe.py explains how.  The "entries" column says which
entry points load the module.

Buffer table: every bytearray of at least 256 bytes reachable from an Ecu
with the engine profile and from a Gateway with two buses, with its
attribute path, and the heap the whole object holds after construction.
Figures are for the 64-bit unix port in bytes (a 32-bit board: about x0.7).
A module's "self" includes the qstrs (names, strings) it interns; MicroPython
grows its qstr pool in chunks, so the module that starts a new chunk is
charged for all of it (a few KB).  The "qstr" column is that pool growth
(micropython.qstr_info before and after), "code" the rest (functions,
classes, tables: what freezing moves to flash), which is what the table is
ranked by; "qstrs" counts the strings the module interned.
"""
import argparse
import pathlib
import re
import subprocess
import sys
import tempfile

import mem_report
import mpy_unix_tests as mut

PROBE_PY = mut.ROOT / "tools" / "mem_probe.py"
HEAP_KB = 4096
TIMEOUT_S = 120

# (label, entry modules, the objects built after the import or None)
ENTRIES = (
    ("cantp", ("diagbridge.cantp.channel",), None),
    ("ecu", ("diagbridge.ecu", "diagbridge.uds.server.profiles.engine"), "ecu"),
    ("gateway", ("diagbridge.gateway",), "gateway"),
    ("boot", ("diagbridge.mpy.runner",), None),
)
IMP = re.compile(r"^@@imp (\S+) (-?\d+) (-?\d+) (\d+) (-?\d+)$", re.M)
QSTR = re.compile(r"^@@q (\d+) ([ab])\nqstr pool: n_pool=\d+, n_qstr=(\d+), "
                  r"n_str_data_bytes=\d+, n_total_bytes=(\d+)$", re.M)
OBJ = re.compile(r"^@@obj (\S+) (\d+)$", re.M)
BUF = re.compile(r"^@@buf (\d+) (\S+)$", re.M)


def _run(exe, out, call):
    code = ("import sys\nsys.path[:0] = [%r, %r]\nimport mem_probe\nmem_probe.%s\n"
            % (str(out / "lib"), str(out / "tools"), call))
    proc = subprocess.run([exe, "-X", "heapsize=%dK" % HEAP_KB, "-c", code], cwd=str(out),
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_S)
    text = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit("tools/mem_imports: %s failed:\n%s" % (call, text.strip()))
    return text


def import_table(exe, out, entries, mods, top):
    rows = {}       # name -> [incl, self, entry labels, qstr self, qstrs]
    totals = []
    for label, names, build in entries:
        text = _run(exe, out, "imports(%r, %r, %r)" % (names, build, mods))
        found = IMP.findall(text)
        q = {}          # seq -> [qstrs, pool bytes] grown during that import (incl)
        for seq, when, nq, nb in QSTR.findall(text):
            d = q.setdefault(int(seq), [0, 0])
            sign = -1 if when == "a" else 1
            d[0] += sign * int(nq)
            d[1] += sign * int(nb)
        kids = {}       # parent seq -> [qstrs, pool bytes] of its direct imports
        for _, _, _, seq, parent in found:
            k = kids.setdefault(int(parent), [0, 0])
            k[0] += q.get(int(seq), [0, 0])[0]
            k[1] += q.get(int(seq), [0, 0])[1]
        total = 0
        for name, incl, own, seq, _ in found:
            qi = q.get(int(seq), [0, 0])
            k = kids.get(int(seq), [0, 0])
            r = rows.setdefault(name, [int(incl), int(own), [], qi[1] - k[1], qi[0] - k[0]])
            if label not in r[2]:
                r[2].append(label)
            total += int(own)
        obj = OBJ.search(text)
        totals.append((label, total, len(found), build, int(obj.group(2)) if obj else None))
    print("import cost per module (bytes, 64-bit; self = the module's own body, of which")
    print("qstr = qstr pool growth while it loaded; code = self - qstr; ranked by code)")
    print("%-46s %7s %7s %7s %7s %6s  %s" % ("module", "code", "qstr", "self", "incl",
                                            "qstrs", "entries"))
    ranked = sorted(rows.items(), key=lambda kv: -(kv[1][1] - kv[1][3]))
    for name, (incl, own, labels, qown, nq) in ranked[:top]:
        print("%-46s %7d %7d %7d %7d %6d  %s" % (name, own - qown, qown, own, incl, nq,
                                                ",".join(labels)))
    if len(ranked) > top:
        rest = sum(r[1] - r[3] for _, r in ranked[top:])
        restq = sum(r[3] for _, r in ranked[top:])
        print("%-46s %7d %7d %7s %7s %6s  (%d more modules)" % ("...", rest, restq, "", "", "",
                                                              len(ranked) - top))
    for label, total, n, build, held in totals:
        line = "entry %-8s %3d modules, %7d bytes in all" % (label, n, total)
        if build:
            line += "; building the %s after the import holds %d (lazy imports included)" % (
                build, held)
        print(line)


def buffer_table(exe, out, mods, top):
    print()
    print("largest buffers after construction (bytes, 64-bit; >= 256 bytes)")
    for name in ("ecu", "gateway"):
        text = _run(exe, out, "buffers(%r, %r)" % (name, mods))
        obj = OBJ.search(text)
        bufs = BUF.findall(text)
        print("%s: the object holds %s bytes; buffers >= 256 bytes: %d bytes in %d" % (
            name, obj.group(2) if obj else "?", sum(int(n) for n, _ in bufs), len(bufs)))
        for n, path in bufs[:top]:
            print("  %8s  %s" % (n, path))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=30, help="rows per table (default %(default)s)")
    ap.add_argument("--entry", action="append",
                    help="an entry module (repeatable; default: the tools/mem scenarios')")
    args = ap.parse_args(argv)
    entries = ENTRIES if not args.entry else tuple((e, (e,), None) for e in args.entry)
    exe = mut.micropython_binary()
    mods = mem_report.find_modules()
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        bad = mut.compile_tree(out, (mut.RUNNER, PROBE_PY))
        problem = None if bad else mut.check_format(exe, out)
        if bad or problem:
            print("\n".join(bad + [problem or ""]).strip())
            return 1
        import_table(exe, out, entries, mods, args.top)
        buffer_table(exe, out, mods, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
