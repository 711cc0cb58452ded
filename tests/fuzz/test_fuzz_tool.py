"""tools/fuzz itself: the fast loop counts failures, saves a reproducer per
distinct failure, keeps reported bugs apart, and the command line reports
what it ran and exits non-zero on a failure."""
import ast
import os
import subprocess
import sys

import fuzz
from fuzz_targets import Target, TARGETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _odd_fails(x):
    assert x % 2 == 0, ("odd", x)


def test_run_target_counts_failures_and_saves_a_reproducer(tmp_path):
    t = Target("demo_numbers", lambda rnd: rnd.randrange(100), _odd_fails, "numbers",
               known=lambda x: "KNOWN_SEVEN" if x % 10 == 7 else None)
    count, dt, failures, known, seen = fuzz.run_target(t, 400, 11, 0, str(tmp_path))
    assert count == 400 and dt >= 0
    assert known["KNOWN_SEVEN"] > 0 and failures > 0
    assert failures + known["KNOWN_SEVEN"] < 400           # the even ones passed
    (times, path, exc), = seen.values()                   # one distinct failure
    assert times == failures and isinstance(exc, AssertionError)
    assert os.path.dirname(path) == str(tmp_path)
    with open(path) as f:
        x = ast.literal_eval(f.read())
    assert x % 2 == 1 and x % 10 != 7
    assert fuzz.replay(t, path) == 1


def _tool(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "fuzz.py")] + list(args),
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_the_command_line_reports_each_target_and_exits_zero_without_failures():
    r = _tool("--target", "kline_wire,uds_decode", "--n", "50", "--seed", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "tools/fuzz: seed 3, up to 50 inputs per target"
    rows = {ln.split()[0]: ln.split() for ln in lines[2:4]}
    assert rows["kline_wire"][1] == "50" and rows["kline_wire"][3] == "0"
    assert rows["uds_decode"][1] == "50" and float(rows["uds_decode"][2]) > 0
    assert lines[-1].startswith("tools/fuzz: 100 inputs in ") and lines[-1].endswith(
        " 0 failures")


def test_the_command_line_refuses_unknown_targets_and_replays_a_failing_input(tmp_path):
    r = _tool("--target", "no_such_decoder")
    assert r.returncode == 2 and "no target 'no_such_decoder'" in r.stderr
    bad = tmp_path / "kline.txt"
    bad.write_text(repr([("baud", 0, 0)]))      # a baud of 0: UsageError out of the check
    r = _tool("--target", "kline_wire", "--replay", str(bad))
    assert r.returncode == 1 and "UsageError" in r.stderr + r.stdout
    good = tmp_path / "kline_ok.txt"
    good.write_text(repr([("w", 0, b"\x81")]))
    r = _tool("--target", "kline_wire", "--replay", str(good))
    assert r.returncode == 0 and "the input passes" in r.stdout
    r = _tool("--list")
    assert r.returncode == 0 and set(ln.split()[0] for ln in r.stdout.splitlines()) == set(TARGETS)
