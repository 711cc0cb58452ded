"""The board runner under real asyncio: diagbridge.mpy.runner.run(loop) runs
for about two seconds of real time under the MicroPython unix port's
asyncio.run, from .mpy files at a fixed heap, with a polled CAN driver that
has the engine ECU behind it and a byte-pipe host link
(tools/mpy_runner_asyncio.py).  A host task logs in with a key (CHALLENGE,
AUTH, the frame MAC from then on), opens a channel, reads the VIN through the
gateway, keeps the link alive with heartbeats and asks for the status at the
end.  The assertions are on what the host got: the login, the exact
response bytes, the gateway's own heartbeats (its deadline woke the asyncio
wait), the gateway's uptime after the run, and no bad tag.  Timeouts are
real-time and generous."""
import pathlib
import re
import subprocess
import sys

import pytest

import mpy_unix_tests as mut

MICROPYTHON = pathlib.Path(sys.executable).parent / "micropython"
SCRIPT = mut.ROOT / "tools" / "mpy_runner_asyncio.py"
HEAP_KB = 1024              # the engine ECU behind the port and the host live here too
SECONDS = 2
TIMEOUT_S = 120
VIN = b"W0L000043MB541326"
LINE = re.compile(r"^@@asyncio (\S+) (.*)$", re.M)


def _run(tmp_path):
    bad = mut.compile_tree(tmp_path, (mut.RUNNER, SCRIPT))
    assert bad == []
    assert mut.check_format(str(MICROPYTHON), tmp_path) is None
    code = ("import sys\nsys.path[:0] = [%r, %r, %r]\nimport mpy_runner_asyncio\n"
            "mpy_runner_asyncio.main(%d)\n" % (str(tmp_path / "tests"), str(tmp_path / "lib"),
                                               str(tmp_path / "tools"), SECONDS))
    proc = subprocess.run([str(MICROPYTHON), "-X", "heapsize=%dK" % HEAP_KB, "-c", code],
                          cwd=str(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT_S)
    got = dict(LINE.findall(proc.stdout))
    assert proc.returncode == 0 and got.get("done") == "1", proc.stdout
    return got


@pytest.mark.skipif(not MICROPYTHON.exists(), reason="the MicroPython unix port (test extra)")
def test_runner_serves_a_keyed_host_for_two_seconds_under_asyncio(tmp_path):
    got = _run(tmp_path)
    # the login: a CHALLENGE for the keyed role, AUTH_OK for the right proof
    assert got["challenge"] == "1" and got["auth_ok"] == "1"
    assert got["channel"] == "1"
    # 22 F1 90 through the gateway's channel to the ECU behind the CAN port
    assert got["uds_result"] == "0"
    assert bytes.fromhex(got["uds_data"]) == b"\x62\xf1\x90" + VIN
    # the request and its 3-frame answer crossed the port: FF + FC + 2 CF
    assert int(got["to_ecu"]) == 2 and int(got["from_ecu"]) == 3
    assert got["ecu_requests"] == "1"
    # real time passed under asyncio, and the runner kept stepping the whole time
    assert SECONDS * 1000 <= int(got["elapsed_ms"]) < SECONDS * 1000 + 60000
    assert int(got["status_uptime_ms"]) >= SECONDS * 1000 - 100
    assert int(got["steps"]) >= 50
    # heartbeat_ms = 1000: the gateway's own timer fired through run()'s wait
    assert int(got["gw_heartbeats"]) >= SECONDS - 1
    assert got["bad_mac"] == "0"


@pytest.mark.skipif(not MICROPYTHON.exists(), reason="the MicroPython unix port (test extra)")
def test_runner_script_reports_a_wrong_key_as_a_refused_login(tmp_path):
    # The same run with the host's key changed: no AUTH_OK, so no channel and
    # no UDS request; the script still ends cleanly and says so.
    bad = mut.compile_tree(tmp_path, (mut.RUNNER, SCRIPT))
    assert bad == []
    code = ("import sys\nsys.path[:0] = [%r, %r, %r]\nimport mpy_runner_asyncio as m\n"
            "m.HOST_KEY = b'not-the-gateway-key-0123456789ab'\n"
            "m.main(0)\n" % (str(tmp_path / "tests"), str(tmp_path / "lib"),
                             str(tmp_path / "tools")))
    proc = subprocess.run([str(MICROPYTHON), "-X", "heapsize=%dK" % HEAP_KB, "-c", code],
                          cwd=str(tmp_path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT_S)
    got = dict(LINE.findall(proc.stdout))
    assert proc.returncode == 0 and got.get("done") == "1", proc.stdout
    assert got["challenge"] == "1" and got["auth_ok"] == "0"
    assert "uds_data" not in got and "channel" not in got
