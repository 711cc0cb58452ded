"""Memory report (figures, not a test): heap per scenario under the MicroPython
unix port at a fixed heap, from .mpy files.  Run it as tools/mem.

For each scenario of tools/mem_scenarios.py, in its own interpreter:
  import   heap in use after the scenario's imports (gc.collect() first)
  peak     the largest heap in use seen while it runs (gc.collect() and
           gc.mem_alloc() between frames / pump steps)
  needs    the smallest -X heapsize it completes at (8 KB steps): peak plus
           what a sample point cannot see (transients inside one step,
           fragmentation, the interpreter's own few KB)
The unix port is a 64-bit build; a 32-bit board's figures are estimated as
x0.7 and set beside an RP2040's (~190 KB) and an ESP32's without PSRAM
(~110 KB) GC heap.  Frozen modules (bytecode in flash, not on the heap) need
a firmware build with the board manifest: the unix port from PyPI cannot
freeze the project's modules, so every figure here is for .mpy files.
"""
import argparse
import concurrent.futures
import pathlib
import re
import subprocess
import sys
import tempfile

import mpy_unix_tests as mut

SCENARIOS_PY = mut.ROOT / "tools" / "mem_scenarios.py"
HEAP_KB = 4096              # the fixed heap of the import / peak runs
MAX_KB = 32768              # "needs" searches up to this
STEP_KB = 8
TIMEOUT_S = 300
TO_32BIT = 0.7
BOARDS = (("RP2040", 190), ("ESP32", 110))

SCENARIOS = (
    ("cantp", "CAN-TP channel: a 4095-byte message"),
    ("ecu", "ECU + engine profile: 5 requests"),
    ("gateway", "gateway: link, 2 buses, hosted ECU, UDS, scan, flash"),
    ("boot", "board boot path: mpy.runner.main under asyncio"),
)
RESULT = re.compile(r"^@@mem import=(\d+) peak=(\d+)(?: sim=(\d+),(\d+),(\d+))?$", re.M)

# Modules the scenarios need beyond the stable entry points, found by what
# they define (the tree is being reorganised: no path is written down here);
# a tuple: every pattern must match.
LOOK_FOR = {
    "proto": r"^LINK_PROTOCOL_VERSION\s*=",     # the host-link protocol definition
    "cobs": r"^class Deframer\b",               # the host-link framing
    "msgpack": r"^def packb\(",                 # the msgpack subset
    "linkconfig": r"^class LinkConfig\b",
    # the UDS example-profile table ("engine"); other protocols have PROFILES tables too
    "profiles": (r"^PROFILES\s*=", r"^\s*\"engine\":\s*\"diagbridge\.uds\."),
    # the UDS server's service-module table (specs(name))
    "services": (r"^SERVICES\s*=", r"^_P\s*=\s*\"diagbridge\.uds\."),
}


def find_modules():
    found = {k: [] for k in LOOK_FOR}
    pats = {k: [re.compile(x, re.M) for x in ((v,) if isinstance(v, str) else v)]
            for k, v in LOOK_FOR.items()}
    for p in mut._sources(mut.PACKAGE):
        text = p.read_text(encoding="utf-8")
        for k, pat in pats.items():
            if all(x.search(text) for x in pat):
                rel = p.relative_to(mut.PACKAGE.parent).with_suffix("")
                parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                found[k].append(".".join(parts))
    bad = ["%s: %s" % (k, ", ".join(v) or "not found") for k, v in found.items() if len(v) != 1]
    if bad:
        sys.exit("tools/mem: cannot tell which module is which (%s)" % "; ".join(bad))
    return {k: v[0] for k, v in found.items()}


def run(exe, out, name, mods, heap_kb):
    """(import, peak, extra) in bytes, or None if the scenario did not complete."""
    code = ("import sys\nsys.path[:0] = [%r, %r]\nimport mem_scenarios\n"
            "mem_scenarios.main(%r, %r)\n" % (str(out / "lib"), str(out / "tools"), name, mods))
    try:
        proc = subprocess.run([exe, "-X", "heapsize=%dK" % heap_kb, "-c", code], cwd=str(out),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    text = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    m = RESULT.search(text)
    if proc.returncode != 0 or not m:
        return None, text.strip()
    sim = (int(m.group(3)), int(m.group(4)), int(m.group(5))) if m.group(3) else None
    return (int(m.group(1)), int(m.group(2)), sim), ""


def needs(exe, out, name, mods):
    """Smallest heap (a multiple of STEP_KB) at which the scenario completes."""
    if run(exe, out, name, mods, MAX_KB)[0] is None:
        return None
    lo, hi = 1, MAX_KB // STEP_KB
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if run(exe, out, name, mods, mid * STEP_KB)[0] is not None:
            hi = mid
        else:
            lo = mid
    return hi * STEP_KB


def measure(exe, out, name, mods, heap_kb, search):
    fig, err = run(exe, out, name, mods, heap_kb)
    need = needs(exe, out, name, mods) if search and fig is not None else None
    return fig, err, need


def kb(n):
    return "%d" % round(n / 1024)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Heap per scenario under the MicroPython unix port.")
    ap.add_argument("--heap", type=int, default=HEAP_KB, help="fixed heap, KB (default %(default)s)")
    ap.add_argument("--no-search", action="store_true", help="skip the 'needs' column")
    ap.add_argument("--only", help="comma-separated scenarios (%s)" % ",".join(n for n, _ in SCENARIOS))
    args = ap.parse_args(argv)
    picked = [(n, t) for n, t in SCENARIOS if not args.only or n in args.only.split(",")]

    exe = mut.micropython_binary()
    mods = find_modules()
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        bad = mut.compile_tree(out, (mut.RUNNER, SCENARIOS_PY))
        problem = None if bad else mut.check_format(exe, out)
        if bad or problem:
            print("\n".join(bad + [problem or ""]).strip())
            return 1
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            futs = [pool.submit(measure, exe, out, n, mods, args.heap, not args.no_search)
                    for n, _ in picked]
            results = [f.result() for f in futs]

    ver = subprocess.run([exe, "-c", "import sys; print(sys.version.split('; ')[-1])"],
                         capture_output=True, text=True).stdout.strip()
    print("diagbridge memory report: %s, unix port (64-bit), .mpy files, "
          "heap %d KB; KB, 32-bit = x%.1f" % (ver, args.heap, TO_32BIT))
    b_head = "".join("  %-11s" % ("%s %d" % b) for b in BOARDS)
    print()
    print("%-52s %s   %s  %s" % ("", " 64-bit, measured ".center(23, "-"),
                                   " 32-bit, x0.7 ".center(23, "-"),
                                   " 32-bit needs / board ".center(26, "-")))
    print("%-52s %7s %7s %7s   %7s %7s %7s%s" % ("scenario", "import", "peak", "needs",
                                              "import", "peak", "needs", b_head))
    failed = 0
    notes = []
    for (name, title), (fig, err, need) in zip(picked, results):
        if fig is None:
            failed += 1
            print("%-52s did not run at %d KB:" % (title, args.heap))
            print("    " + "\n    ".join(err.splitlines()[-12:]))
            continue
        imp_b, peak_b, extra = fig
        n64 = "%d" % need if need else ("-" if args.no_search else ">%d" % MAX_KB)
        n32 = need * TO_32BIT if need else None
        cells = ""
        for _, heap in BOARDS:
            if n32 is None:
                cells += "  %-11s" % "-"
            else:
                cells += "  %-11s" % ("%s %d%%" % ("fits" if n32 <= heap else "NO", 100 * n32 / heap))
        print("%-52s %7s %7s %7s   %7s %7s %7s%s" % (
            title, kb(imp_b), kb(peak_b), n64, kb(imp_b * TO_32BIT), kb(peak_b * TO_32BIT),
            "%d" % round(n32) if n32 else "-", cells))
        if extra is not None:
            notes.append("%s: import is diagbridge.gateway alone; the engine profile's "
                         "service modules import %s KB more (the hosted ECU needs them on a "
                         "board too); the simulation and host modules import %s KB and the "
                         "simulated engine ECU on bus 0 holds %s KB (64-bit): these two are in "
                         "peak and needs, and not on a board, which would need about %s KB"
                         % (name, kb(extra[1]), kb(extra[0]), kb(extra[2]),
                            "%d" % (need - round((extra[0] + extra[2]) / 1024)) if need
                            else "-"))
    print()
    for n in notes:
        print("note: " + n)
    print("note: frozen figures need a firmware build with the modules frozen in; the unix "
          "port from PyPI cannot freeze them, so they are not measured here")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
