"""Long fuzz runs of every decoder (figures and findings, not a test).

    tools/fuzz [--target NAME[,NAME]] [--n 1000000] [--seed S] [--seconds T]
    tools/fuzz --list
    tools/fuzz --target NAME --replay FILE     one saved input, with its traceback
    tools/fuzz --hypothesis [--n N]            the tests/fuzz suite, N examples per test

The default mode is a fast loop with plain random inputs (tools/fuzz_targets.py:
each target's generator and its property check), for throughput.  Per target
it prints the inputs run, inputs/s, and the failures found: each distinct
failure once, with the file holding its input (a reproducer for --replay).
Failures of a bug already reported (a target's `known` predicate; the bug
has its own xfail(strict=True) test in tests/fuzz) are counted apart.  Exit
status 1 when any other failure was found, 0 otherwise.  --seconds bounds
each target's time (the run then reports what it did); --n the inputs.
"""
import argparse
import ast
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host"),
                os.path.join(ROOT, "tests", "core"), os.path.join(ROOT, "tools")]

MAX_SHOWN = 3               # distinct failures printed per target


def _signature(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    where = tb[-1] if tb else None
    head = exc.args[0] if exc.args and isinstance(exc.args[0], tuple) else None
    label = head[0] if head and isinstance(head[0], str) else ""
    return (type(exc).__name__, where.filename if where else "", where.lineno if where else 0,
            label)


def _save(out_dir, target, seed, index, inp):
    d = out_dir or os.path.join(tempfile.gettempdir(), "diagbridge-fuzz")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "%s-%d-%d.txt" % (target, seed, index))
    with open(path, "w") as f:
        f.write(repr(inp))
    return path


def run_target(t, n, seed, seconds, out_dir=None):
    """Run one target; returns (inputs, elapsed s, failures, {bug: count},
    {signature: [count, reproducer file, first exception]}).  Reproducers go
    to out_dir (default: <tmp>/diagbridge-fuzz)."""
    rnd = random.Random(seed)
    failures = 0
    known = {}
    seen = {}
    t0 = time.perf_counter()
    end = t0 + seconds if seconds else None
    i = 0
    try:
        while i < n:
            inp = t.gen(rnd)
            i += 1
            try:
                t.check(inp)
            except Exception as e:      # noqa: BLE001 (any escape is a finding)
                bug = t.known(inp) if t.known is not None else None
                if bug is not None:
                    known[bug] = known.get(bug, 0) + 1
                else:
                    failures += 1
                    sig = _signature(e)
                    if sig not in seen:
                        seen[sig] = [1, _save(out_dir, t.name, seed, i - 1, inp), e]
                    else:
                        seen[sig][0] += 1
                if t.name == "gateway_bodies":
                    import fuzz_gateway
                    fuzz_gateway.gateway_reset()    # a failure may leave the vehicle odd
            if end is not None and (i & 63) == 0 and time.perf_counter() > end:
                break
    except KeyboardInterrupt:
        print("  (interrupted)")
    return i, time.perf_counter() - t0, failures, known, seen


def replay(t, path):
    with open(path) as f:
        inp = ast.literal_eval(f.read())
    try:
        t.check(inp)
    except Exception:                   # noqa: BLE001
        traceback.print_exc()
        bug = t.known(inp) if t.known is not None else None
        print("%s: the input fails%s" % (t.name, " (known: %s)" % bug if bug else ""))
        return 1
    print("%s: the input passes" % t.name)
    return 0


# the tests/fuzz file of each target
TEST_FILES = {"cantp_frames": "cantp", "cantp_segmented": "cantp", "cantp_roundtrip": "cantp",
              "uds_server": "uds", "uds_decode": "uds", "link_cobs": "link",
              "link_msgpack": "link", "link_session": "link", "host_link": "link",
              "gateway_bodies": "gateway", "kline_wire": "kline", "kline_frame": "kline",
              "kline_ecu": "kline"}


def run_hypothesis(n, names):
    env = dict(os.environ, DIAGBRIDGE_FUZZ_PROFILE="long", DIAGBRIDGE_FUZZ_EXAMPLES=str(n))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "--hypothesis-show-statistics"]
    files = sorted(set(TEST_FILES.get(nm, "") for nm in names)) if names else []
    cmd += [os.path.join("tests", "fuzz", "test_fuzz_%s.py" % f) for f in files if f] or \
        [os.path.join("tests", "fuzz")]
    print("running: DIAGBRIDGE_FUZZ_PROFILE=long DIAGBRIDGE_FUZZ_EXAMPLES=%d %s"
          % (n, " ".join(cmd[1:])))
    return subprocess.call(cmd, cwd=ROOT, env=env)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tools/fuzz", description=__doc__.split("\n")[0])
    ap.add_argument("--target", help="comma-separated target names (default: all)")
    ap.add_argument("--n", type=int, default=1000000, help="inputs per target")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from time)")
    ap.add_argument("--seconds", type=float, default=0, help="at most this long per target")
    ap.add_argument("--list", action="store_true", help="the targets")
    ap.add_argument("--replay", metavar="FILE", help="check one saved input (needs --target)")
    ap.add_argument("--hypothesis", action="store_true",
                    help="run tests/fuzz with --n examples per test instead")
    a = ap.parse_args(argv)
    logging.disable(logging.CRITICAL)       # the host library logs every malformed message
    from fuzz_targets import TARGETS
    if a.list:
        for t in TARGETS.values():
            print("%-16s %s" % (t.name, t.what))
        return 0
    names = a.target.split(",") if a.target else list(TARGETS)
    for nm in names:
        if nm not in TARGETS:
            print("tools/fuzz: no target %r (%s)" % (nm, ", ".join(TARGETS)), file=sys.stderr)
            return 2
    if a.n < 1:
        print("tools/fuzz: --n must be >= 1", file=sys.stderr)
        return 2
    if a.hypothesis:
        return run_hypothesis(a.n, names if a.target else [])
    if a.replay:
        if len(names) != 1:
            print("tools/fuzz: --replay needs one --target", file=sys.stderr)
            return 2
        return replay(TARGETS[names[0]], a.replay)
    seed = a.seed if a.seed is not None else int(time.time()) & 0xFFFFFFFF
    print("tools/fuzz: seed %d, up to %d inputs per target%s" % (
        seed, a.n, ", %g s each" % a.seconds if a.seconds else ""))
    print("%-16s %10s %12s %9s  %s" % ("target", "inputs", "inputs/s", "failures", "known bugs"))
    bad = 0
    total = 0
    t_all = time.perf_counter()
    for nm in names:
        t = TARGETS[nm]
        count, dt, failures, known, seen = run_target(t, a.n, seed, a.seconds)
        total += count
        bad += failures
        print("%-16s %10d %12.0f %9d  %s" % (
            nm, count, count / dt if dt > 0 else 0.0, failures,
            ", ".join("%s x%d" % kv for kv in sorted(known.items())) or "-"), flush=True)
        for j, (sig, (times, path, e)) in enumerate(seen.items()):
            if j >= MAX_SHOWN:
                print("    ... and %d more distinct failures" % (len(seen) - MAX_SHOWN))
                break
            msg = repr(e)
            print("    %s x%d at %s:%d: %s" % (sig[0], times, os.path.relpath(sig[1], ROOT),
                                               sig[2], msg[:300]))
            print("      reproduce: tools/fuzz --target %s --replay %s" % (nm, path))
    print("tools/fuzz: %d inputs in %.1f s, %d failures%s" % (
        total, time.perf_counter() - t_all, bad, "" if bad == 0 else " (exit 1)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
