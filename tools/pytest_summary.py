#!/usr/bin/env python3
"""The one-line pytest stage summary of tools/test, from pytest's output.

    pytest_summary.py OUTPUT_FILE EXIT_STATUS   ->  "pytest: 12 passed, 0 failed, 1 skipped"
    pytest_summary.py --closing OUTPUT_FILE     ->  pytest's closing line as it printed it

pytest closes with "=== 12 passed, 1 skipped in 3.2s ===" by default and with
the same text without the "===" border under -q (and maybe colour codes
with --color=yes); both are read.  The last such line wins.  A non-zero exit
status is appended as "(exit N)".
"""
import re
import sys

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CLOSING = re.compile(r"^(?:=+ )?((?:\d+ \w+|no tests ran)[^=]* in [0-9.]+s(?: \([0-9:.]+\))?)"
                      r"(?: =+)?$")


def closing_line(text: str) -> str:
    """pytest's closing line without its border ("" when there is none)."""
    found = ""
    for line in text.splitlines():
        m = _CLOSING.match(_ANSI.sub("", line).strip())
        if m:
            found = m.group(1)
    return found


def count(summary: str, word: str) -> int:
    m = re.search(r"(\d+) %s\b" % word, summary)
    return int(m.group(1)) if m else 0


def summary_line(text: str, rc: int) -> str:
    s = closing_line(text)
    line = "pytest: %d passed, %d failed" % (count(s, "passed"), count(s, "failed"))
    n = count(s, "errors?")
    if n:
        line += ", %d error%s" % (n, "" if n == 1 else "s")
    n = count(s, "skipped")
    if n:
        line += ", %d skipped" % n
    if rc:
        line += " (exit %d)" % rc
    return line


def main(argv):
    if argv[1] == "--closing":          # pytest's own closing line, border and all
        with open(argv[2], encoding="utf-8", errors="replace") as f:
            text = f.read()
        if closing_line(text):
            for line in reversed(text.splitlines()):
                if _CLOSING.match(_ANSI.sub("", line).strip()):
                    print(line)
                    break
        return
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        print(summary_line(f.read(), int(argv[2])))


if __name__ == "__main__":
    main(sys.argv)
