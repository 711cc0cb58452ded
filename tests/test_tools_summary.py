"""tools/pytest_summary.py: the pytest stage line of tools/test, from pytest's
closing line with the "===" border (default) or without it (-q)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from pytest_summary import closing_line, summary_line  # noqa: E402

DEFAULT = ("tests/test_a.py ....x.s                  [100%]\n\n"
           "============ 1004 passed, 3 skipped, 1 xfailed in 65.89s (0:01:05) =============\n")
QUIET = "....x.s                                  [100%]\n1004 passed, 3 skipped, 1 xfailed " \
        "in 65.89s (0:01:05)\n"
FAILED_Q = ("FAILED tests/test_a.py::test_x - assert 1 == 2\n"
            "2 failed, 10 passed, 1 error, 2 warnings in 1.20s\n")
COLOUR = "\x1b[32m\x1b[1m5 passed\x1b[0m\x1b[32m in 0.06s\x1b[0m\n"


@pytest.mark.parametrize("text, rc, line", [
    (DEFAULT, 0, "pytest: 1004 passed, 0 failed, 3 skipped"),
    (QUIET, 0, "pytest: 1004 passed, 0 failed, 3 skipped"),
    (FAILED_Q, 1, "pytest: 10 passed, 2 failed, 1 error (exit 1)"),
    ("=== 3 errors in 0.3s ===\n", 2, "pytest: 0 passed, 0 failed, 3 errors (exit 2)"),
    (COLOUR, 0, "pytest: 5 passed, 0 failed"),
    ("no tests ran in 0.01s\n", 5, "pytest: 0 passed, 0 failed (exit 5)"),
    ("", 4, "pytest: 0 passed, 0 failed (exit 4)"),
], ids=["default", "quiet", "failed-quiet", "errors", "colour", "nothing", "empty"])
def test_both_forms_of_the_closing_line(text, rc, line):
    assert summary_line(text, rc) == line


def test_the_closing_line_is_pytests_own_and_the_last_one():
    assert closing_line(QUIET) == "1004 passed, 3 skipped, 1 xfailed in 65.89s (0:01:05)"
    assert closing_line(DEFAULT) == closing_line(QUIET)
    # a test's own output that looks alike comes before pytest's closing line
    assert closing_line("1 passed in 2s\n" + QUIET).startswith("1004 passed")


def test_the_script(tmp_path):
    out = tmp_path / "pytest.out"
    out.write_text(QUIET)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "pytest_summary.py"),
                        str(out), "0"], capture_output=True, text=True, check=True)
    assert r.stdout == "pytest: 1004 passed, 0 failed, 3 skipped\n"
