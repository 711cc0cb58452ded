"""The ``diagbridge`` command as a user runs it: a subprocess against a real
TCP gateway daemon on a virtual CAN bus, checking what the user sees (stdout,
stderr, exit status).  An ECU on 29-bit ids is reached by both 29-bit forms;
every wrong argument is one line on stderr with exit status 2 and no
traceback; a destructive command never has a default target; something that
is not a gateway is named as such.  Real clocks: behaviour only, generous
timeouts."""
import os
import re
import socket
import subprocess
import sys
import threading

import can
import pytest

from diagbridge.cantp.addr import Address, ADDR_NORMAL_29
from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu

from test_daemon import Rig, KEY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = 60


def cli(*argv, url=None):
    cmd = [sys.executable, "-m", "diagbridge_host.main", *argv]
    if url is not None:
        cmd += ["--url", url, "--key", KEY.decode()]
    env = dict(os.environ, DIAGBRIDGE_URL="", DIAGBRIDGE_KEY="")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=T, cwd=ROOT, env=env)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def gw29():
    """The daemon, the 11-bit engine ECU, and a second engine on 29-bit ids
    (request 18DA10F1, response 18DAF110, functional 18DB33F1)."""
    rig = Rig()
    bus = can.Bus(interface="virtual", channel=rig.channel)
    ecu = EcuRunner(bus, build_ecu("engine", address=Address(
        ADDR_NORMAL_29, tx_id=0x18DAF110, rx_id=0x18DA10F1, func_rx_id=0x18DB33F1)),
        name="engine29")
    ecu.__enter__()
    yield rig
    ecu.__exit__(None, None, None)
    bus.shutdown()
    rig.close()


def test_29_bit_ids_reach_the_ecu_in_both_forms(gw29):
    rc, out, err = cli("read-did", "18DA10F1:18DAF110", "F190", url=gw29.url)
    assert rc == 0, err
    assert out.startswith("F190: ") and "Traceback" not in err
    vin = out.split("|")[1]
    assert len(vin) == 17
    # the normal fixed id alone: TA 10, SA F1 -> the same frames
    rc, out2, err = cli("read-did", "18DA10F1", "F190", url=gw29.url)
    assert rc == 0 and out2 == out, err
    rc, out, err = cli("scan", "--ids", "18DA10F1:18DAF110", "--functional-id", "18DB33F1",
                       url=gw29.url)
    assert rc == 0, err
    assert out.splitlines() == ["0x18DA10F1 -> 0x18DAF110  " + vin]
    rc, out, err = cli("dtc", "read", "18DA10F1:18DAF110", "--mask", "08", url=gw29.url)
    assert rc == 0 and "on 0x18DA10F1" in err and len(out.splitlines()) > 0


def test_hex_is_the_one_number_rule(gw29):
    rc, out, err = cli("read-did", "7E0", "0xF190", url=gw29.url)
    assert rc == 0 and out.startswith("F190: ")
    rc, out, err = cli("read-did", "7E0", "0d61840", url=gw29.url)      # 61840 = 0xF190
    assert rc == 0 and out.startswith("F190: ")
    rc, out, err = cli("read-did", "0d2016", "F190", url=gw29.url)      # 2016 = 0x7E0
    assert rc == 0 and out.startswith("F190: ")


@pytest.mark.parametrize("argv, says", [
    (["dtc", "read", "--mask", "100"], "status mask '100' is out of range (0x0-0xFF)"),
    (["read-did", "7E0", "F1900"], "DID 'F1900' is out of range (0x0-0xFFFF)"),
    (["read-did", "7E0", "G1"], "DID 'G1' is not a number"),
    (["read-did", "123", "F190"], "give TX:RX for ids outside 7E0-7E7"),
    (["read-did", "7E0:18DAF110", "F190", "--addressing", "normal_11"], "ids are 11-bit"),
    (["scan", "--functional-id", "18DB33F1"], "give the 29-bit candidates with --ids"),
    (["dtc", "clear"], "name the ECU whose DTCs to clear"),
    (["status", "--key", "hex:zz"], "--key: bad hex"),
    (["monitor", "--log", "trace.zzz"], "unknown log format '.zzz'"),
    (["monitor", "--log", "/nonexistent-folder/trace.asc"], "does not exist (create it first)"),
    (["flash", "7E0", "/nonexistent.bin", "--address", "10000"], "No such file"),
    (["flash", "7E0", "x.bin", "--address", "10000", "--set", "verify"], None),
    (["status", "--url", "tcp://127.0.0.1:70000"], "the port must be 1-65535"),
    (["status", "--url", "nope://x"], "unknown gateway URL scheme"),
])
def test_every_wrong_argument_is_one_line_and_exit_2(argv, says, tmp_path):
    if argv[0] == "flash" and "--set" in argv:
        img = tmp_path / "x.bin"
        img.write_bytes(b"\x00" * 16)
        argv = [a if a != "x.bin" else str(img) for a in argv]
        says = "--set 'verify': write FIELD=VALUE"
    if "--url" not in argv:
        argv = argv + ["--url", "sim://"]
    rc, out, err = cli(*argv)
    assert rc == 2, (rc, err)
    assert out == "" and "Traceback" not in err and "WARNING" not in err
    assert says in err
    lines = [ln for ln in err.splitlines() if not ln.startswith(("usage:", " "))]
    assert len(lines) == 1, err                 # argparse's usage lines aside: one line


def test_something_that_is_not_a_gateway_is_named_so():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    stop = threading.Event()

    def http():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            stop.wait(T)
            c.close()
    t = threading.Thread(target=http, daemon=True)
    t.start()
    try:
        rc, out, err = cli("status", "--url", "tcp://127.0.0.1:%d" % port, "--timeout-s", "2")
    finally:
        stop.set()
        srv.close()
    assert rc == 1 and out == ""
    assert err.strip() == ("diagbridge status: tcp://127.0.0.1:%d is not a diagbridge gateway "
                           "(no handshake within 2.0 s: it sent 28 bytes that are not host-link "
                           "frames; check the address, port and link speed)" % port)


def test_version_and_help_state_the_rules():
    rc, out, err = cli("--version")
    assert rc == 0 and out.startswith("diagbridge ")
    rc, out, err = cli("read-did", "--help")
    assert rc == 0 and "18DA10F1:18DAF110" in out and "--addressing" in out
    assert "hex" in out and "decimal" in out


def test_python_can_plugin_refuses_what_the_bus_cannot_carry():
    """python-can's own error type, a clear text, nothing sent: sim:// buses
    are classical CAN at 500 kbit/s."""
    bus = can.Bus(interface="diagbridge", channel="sim://", timeout_s=T)
    try:
        bad = [
            (can.Message(arbitration_id=0x7E0, is_extended_id=False, is_fd=True,
                         data=bytes(64)), "is classical CAN: it cannot send a CAN FD frame"),
            (can.Message(arbitration_id=0x7E0, is_extended_id=False, data=bytes(12),
                         check=False), "at most 8 data bytes (got 12"),
            (can.Message(arbitration_id=0x7E0, is_extended_id=False, is_remote_frame=True,
                         dlc=8), "remote frames (RTR) are not carried"),
            (can.Message(arbitration_id=0x800, is_extended_id=False, data=b"\x01",
                         check=False), "id 0x800 does not fit a 11-bit identifier"),
            (can.Message(arbitration_id=0x7E0, is_extended_id=False, bitrate_switch=True,
                         data=b"\x01", check=False), "bitrate_switch needs a CAN FD frame"),
        ]
        before = bus.conn.status().bus_stats[0]["tx_frames"]
        for msg, says in bad:
            with pytest.raises(can.CanOperationError, match=re.escape(says)):
                bus.send(msg)
        assert bus.conn.status().bus_stats[0]["tx_frames"] == before     # nothing went out
        bus.send(can.Message(arbitration_id=0x7DF, is_extended_id=False,
                             data=b"\x02\x3e\x80"))
        assert bus.conn.status().bus_stats[0]["tx_frames"] == before + 1
    finally:
        bus.shutdown()


def _flash_process(tmp_path, size):
    import queue
    img = tmp_path / "app.bin"
    img.write_bytes(bytes(((i * 7) ^ (i >> 8)) & 0xFF for i in range(size)))
    p = subprocess.Popen([sys.executable, "-m", "diagbridge_host.main", "flash", "7E0",
                          str(img), "--address", "10000", "--secret", "EngineProg03",
                          "--url", "sim://"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()

    def pump():
        for line in p.stderr:
            lines.put(line)
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    return p, lines


def _wait_line(lines, pred, seen):
    import queue
    while True:
        try:
            line = lines.get(timeout=T)
        except queue.Empty:
            raise AssertionError("no such line in: " + "".join(seen))
        if line is None:
            raise AssertionError("stream ended: " + "".join(seen))
        seen.append(line)
        if pred(line):
            return line


def test_first_ctrl_c_lets_the_flash_finish(tmp_path):
    import signal
    p, lines = _flash_process(tmp_path, 128 * 1024)
    seen = []
    try:
        _wait_line(lines, lambda ln: ln.startswith("[###"), seen)     # the transfer runs
        p.send_signal(signal.SIGINT)
        _wait_line(lines, lambda ln: "keeps running on the gateway" in ln, seen)
        out = p.stdout.read()               # stderr stays with the pump thread
        p.wait(T)
    finally:
        p.kill()
    seen += list(iter(lambda: lines.get(timeout=T), None))
    assert p.returncode == 0, "".join(seen)
    assert out.startswith("flash OK: 131072 bytes to 0x7E0 at 0x10000") and "verified" in out
    assert "Traceback" not in "".join(seen)


def test_second_ctrl_c_aborts_and_says_where_the_ecu_is(tmp_path):
    import signal
    p, lines = _flash_process(tmp_path, 256 * 1024)
    seen = []
    try:
        _wait_line(lines, lambda ln: ln.startswith("[###"), seen)
        p.send_signal(signal.SIGINT)
        _wait_line(lines, lambda ln: "Press Ctrl-C again to abort" in ln, seen)
        p.send_signal(signal.SIGINT)
        out = p.stdout.read()               # stderr stays with the pump thread
        p.wait(T)
    finally:
        p.kill()
    seen += list(iter(lambda: lines.get(timeout=T), None))
    err = "".join(seen)
    assert p.returncode == 130, err
    assert out == "" and "Traceback" not in err
    assert "flash ABORTED at step 'transfer' after " in err
    assert "may be erased or partly written" in err
    assert "back in the default session (10 01 answered)" in err
    assert "run the same 'diagbridge flash' command again" in err


def test_one_request_commands_against_the_simulated_vehicle():
    import json
    rc, out, err = cli("request", "7E0", "22F190", "--url", "sim://")
    assert rc == 0 and out.splitlines() == [
        "< 62 F1 90 57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36",
        "  F190 VIN: W0L000043MB541326"]
    rc, out, err = cli("request", "7E0", "22", "F1", "8B", "--url", "sim://")
    assert rc == 0 and out.splitlines()[1] == "  F18B ECUManufacturingDate: 2024-03-15"
    rc, out, err = cli("request", "7E0", "2E F1 90 00", "--url", "sim://")
    assert rc == 1 and "7F 2E" in out and "negative response" in out
    rc, out, err = cli("request", "7E0", "2", "--url", "sim://")
    assert rc == 2 and "two hex digits a byte" in err
    rc, out, err = cli("session", "7E0", "3", "--url", "sim://")
    assert rc == 0 and out.startswith("session 0x03: P2 ") and "S3" in err
    rc, out, err = cli("read-mem", "7E0", "8000", "12", "--session", "3", "--url", "sim://")
    assert rc == 0 and "|CAL-ENGINE-2.0-T|" in out and out.rstrip().endswith("|DI|")
    rc, out, err = cli("write-did", "7E0", "F199", "hex:240101", "--url", "sim://")
    assert rc == 1 and "negative response" in err          # default session: refused
    rc, out, err = cli("security", "7E0", "1", "--session", "3", "--secret", "wrong",
                       "--url", "sim://")
    assert rc == 1 and "0x35 invalidKey" in err and "check --secret" in err
    rc, out, err = cli("security", "7E0", "2", "--url", "sim://")
    assert rc == 2 and "give the odd requestSeed level" in err
    rc, out, err = cli("security", "7E0", "1", "--key-algorithm", "no.such.module:fn",
                       "--url", "sim://")
    assert rc == 2 and "cannot import no.such.module" in err
    rc, out, err = cli("reset", "7E0", "--json", "--url", "sim://")
    doc = json.loads(out)
    assert rc == 0 and doc["ok"] and doc["command"] == "reset" and doc["reset"] == 1
    rc, out, err = cli("dtc", "count", "7E0", "--json", "--url", "sim://")
    doc = json.loads(out)
    assert rc == 0 and doc["count"] == 20
    rc, out, err = cli("dtc", "snapshot", "7E0", "--url", "sim://")
    assert rc == 2 and "needs --dtc" in err
    rc, out, err = cli("read-did", "7E0", "F190", "1234", "--json", "--url", "sim://")
    doc = json.loads(out)
    assert rc == 1 and not doc["ok"] and doc["dids"][0]["value"] == "W0L000043MB541326"
    assert doc["dids"][1]["nrc"] == 0x31


def test_a_plug_in_key_function_unlocks(tmp_path):
    """The OEM's seed-to-key function, as udsoncan's security_algo(level, seed,
    params): here the engine profile's diagbridge1 algorithm written outside."""
    (tmp_path / "oem_keys.py").write_text(
        "from diagbridge.uds.seedkey import key_function\n"
        "def engine(level, seed, params):\n"
        "    return key_function('diagbridge1', b'EngineExt01')(level, seed)\n")
    env_path = str(tmp_path)
    cmd = [sys.executable, "-m", "diagbridge_host.main", "write-did", "7E0", "F199",
           "hex:240101", "--session", "3", "--unlock", "1", "--key-algorithm",
           "oem_keys:engine", "--url", "sim://"]
    env = dict(os.environ, PYTHONPATH=env_path + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=T, cwd=ROOT, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["session 0x03 entered", "security level 0x01 unlocked",
                                     "F199 written: 24 01 01"]
