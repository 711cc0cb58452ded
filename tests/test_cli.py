"""The ``diagbridge`` host subcommands (diagbridge_host.cli, also reached
through the console script diagbridge_host.main) against sim:// in-process,
and against the gateway daemon on a virtual bus where state must survive
between commands (clear then read) or traffic is needed (monitor).  Real
clocks: behaviour only, generous timeouts."""
import io
import threading
import time

import can
import pytest

from diagbridge_host import main as gw_cli
from diagbridge.link import proto as P
from diagbridge_host import cli
from diagbridge_host.cli_common import CliError
from diagbridge_host.cli_jobs import Progress

from test_daemon import Rig, KEY

MONITOR_KEY = b"monitor-only-key-0123456789abcde"


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    rc = cli.main(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


def test_scan_finds_both_ecus_with_their_vins():
    rc, out, err = run("scan", "--url", "sim://")
    assert rc == 0, err
    assert out.splitlines() == ["0x7E0 -> 0x7E8  W0L000043MB541326",
                                "0x7E1 -> 0x7E9  W0L000043MB541326"]
    assert "2 ECU(s) answered" in err
    rc, out, err = run("scan", "--url", "sim://", "--ids", "7E5", "7E6")
    assert rc == 1 and out == "" and "no ECU answered on bus 0" in err


def test_read_did_prints_hex_and_ascii_and_nrcs():
    rc, out, err = run("read-did", "7E0", "F190", "0xF187", "1234", "--url", "sim://")
    lines = out.splitlines()
    assert lines[0] == ("F190: 57 30 4C 30 30 30 30 34 33 4D 42 35 34 31 33 32 36  "
                        "|W0L000043MB541326|  VIN")
    assert lines[1].startswith("F187: ") and lines[1].endswith("|03L906018JL|  "
                                                               "ManufacturerSparePartNumber")
    assert lines[2] == "1234: negative response 0x31 requestOutOfRange"
    assert rc == 1                                  # one DID failed
    rc, out, err = run("read-did", "7E1:7E9", "F187", "--url", "sim://")
    assert rc == 0 and out.endswith("|GBX0001234|  ManufacturerSparePartNumber\n")


def test_dtc_read_with_a_mask():
    rc, out, err = run("dtc", "read", "--url", "sim://")
    assert rc == 0 and len(out.splitlines()) == 20 and "20 DTC(s)" in err
    assert out.splitlines()[0].startswith("P0101-00  010100  status 2F  testFailed")
    assert "U0100-00  C10000" in out
    rc, out, err = run("dtc", "read", "7E0", "--mask", "08", "--url", "sim://")
    assert rc == 0 and all(int(ln.split()[3], 16) & 0x08 for ln in out.splitlines())
    assert 0 < len(out.splitlines()) < 20


def test_flash_with_progress_and_a_report(tmp_path):
    img = tmp_path / "app.bin"
    img.write_bytes(bytes(((i * 7) ^ (i >> 8)) & 0xFF for i in range(4096)))
    rc, out, err = run("flash", "7E0", str(img), "--address", "0x10000", "--secret",
                       "EngineProg03", "--url", "sim://")
    assert rc == 0, err
    assert out.startswith("flash OK: 4096 bytes to 0x7E0 at 0x10000 in ") and "verified" in out
    bars = [ln for ln in err.splitlines() if ln.startswith("[")]
    assert bars[-1].startswith("[" + "#" * 30 + "] 100%  4096/4096 bytes") and "KiB/s" in bars[-1]
    assert "ETA" in bars[0]
    rc, out, err = run("flash", "7E0", str(img), "--address", "0x10000", "--secret", "wrong",
                       "--url", "sim://")
    assert rc == 1 and "flash FAILED at step 'key': negative response 0x35 invalidKey" in err
    assert "check --secret" in err
    rc, out, err = run("flash", "7E0", str(tmp_path / "none.bin"), "--address", "0",
                       "--url", "sim://")
    assert rc == 2 and "none.bin: No such file" in err        # an input file: usage


def test_progress_line_has_rate_and_eta():
    t = [0.0]
    p = Progress(1000, io.StringIO(), clock=lambda: t[0])
    t[0] = 2.0
    assert p.line(500) == ("[###############               ]  50%  500/1000 bytes  "
                           "0.2 KiB/s  ETA 2 s")


def test_status_and_the_console_script_keeps_ecu():
    rc, out, err = run("status", "--url", "sim://")
    assert rc == 0 and out.startswith("gateway   diagbridge-sim (link protocol %d) at sim://"
                                      % P.LINK_PROTOCOL_VERSION)
    assert "bus 1     CAN 500000 bit/s" in out
    parser = gw_cli.build_parser()
    assert parser.parse_args(["ecu", "--profile", "engine"]).command == "ecu"
    args = parser.parse_args(["read-did", "7E0", "F190", "--url", "sim://"])
    assert args.ecu == "7E0" and args.dids == [0xF190]
    assert cli.parse_ecu("7E0") == (0x7E0, 0x7E8)
    assert cli.parse_ecu("18DA10F1:18DAF110") == (0x18DA10F1, 0x18DAF110)
    assert gw_cli.main(["status", "--url", "sim://"]) == 0


def test_errors_say_what_to_do(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]           # bound, not listening: refused
        rc, out, err = run("status", "--url", "tcp://127.0.0.1:%d" % port, "--timeout-s", "5")
    assert rc == 1 and err.strip() == ("diagbridge status: cannot connect to tcp://127.0.0.1:%d: "
                                       "is diagbridge-gw running? (connection refused)" % port)
    rc, out, err = run("status", "--url", "sim://?key=" + KEY.decode())
    assert rc == 1 and "wants a key" in err and "--key-file" in err
    rc, out, err = run("status", "--url", "sim://?key=" + KEY.decode(), "--key", "x" * 32)
    assert rc == 1 and "check the pre-shared key" in err
    rc, out, err = run("status", "--url", "nope://x")
    assert rc == 2 and "unknown gateway URL scheme" in err
    rc, out, err = run("read-did", "123", "F190")   # not 7E0-7E7 and no TX:RX: a usage error
    assert rc == 2 and "give TX:RX for ids outside 7E0-7E7" in err and out == ""
    rc, out, err = run("status", "--url", "sim://", "--key-file", str(tmp_path / "k"))
    assert rc == 2 and "key file" in err


@pytest.fixture
def gw():
    r = Rig(keys=((P.ROLE_FULL, KEY), (P.ROLE_MONITOR, MONITOR_KEY)))
    yield r
    r.close()


def test_dtc_clear_then_read_through_the_daemon_and_roles(gw, tmp_path):
    keyfile = tmp_path / "key"
    keyfile.write_text("monitor: %s\nfull: %s\n" % (MONITOR_KEY.decode(), KEY.decode()))
    rc, out, err = run("dtc", "read", "--url", gw.url, "--key-file", str(keyfile))
    assert rc == 0 and len(out.splitlines()) == 20
    rc, out, err = run("dtc", "clear", "--url", gw.url, "--key-file", str(keyfile))
    assert rc == 2 and "name the ECU whose DTCs to clear" in err     # never a default target
    rc, out, err = run("dtc", "clear", "7E0", "--url", gw.url, "--key", MONITOR_KEY.decode(),
                       "--role", "monitor")
    assert rc == 1 and "refused" in err and "--role" in err
    rc, out, err = run("dtc", "clear", "7E0", "--url", gw.url, "--key-file", str(keyfile))
    assert rc == 0 and out == "DTCs of 0x7E0 cleared\n"
    rc, out, err = run("dtc", "read", "--url", gw.url, "--key-file", str(keyfile))
    assert rc == 0 and "0 DTC(s)" in err
    rc, out, err = run("status", "--url", gw.url, "--key-file", str(keyfile))
    assert rc == 0 and "channels -" in out           # every command closed its channels


@pytest.mark.parametrize("ext", ["asc", "blf", "log"])
def test_monitor_prints_and_logs_a_bounded_capture(gw, tmp_path, ext):
    path = tmp_path / ("trace." + ext)
    stop = threading.Event()

    def traffic():
        bus = can.Bus(interface="virtual", channel=gw.channel)
        i = 0
        while not stop.is_set():
            bus.send(can.Message(arbitration_id=0x123 if i % 2 else 0x456,
                                 is_extended_id=False, data=bytes((i & 0xFF, 1, 2))))
            i += 1
            time.sleep(0.01)
        bus.shutdown()
    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        rc, out, err = run("monitor", "--url", gw.url, "--key", KEY.decode(), "--filter",
                           "123:7FF", "--count", "5", "--duration-s", "30", "--log", str(path))
    finally:
        stop.set()
        t.join()
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 5 and all(" bus0 123 [3] " in ln for ln in lines)
    assert "5 frames, logged to" in err
    logged = list(can.LogReader(str(path)))
    assert [m.arbitration_id for m in logged] == [0x123] * 5
    assert [m.timestamp for m in logged] == sorted(m.timestamp for m in logged)


def test_monitor_stops_after_its_duration(gw):
    t0 = time.monotonic()
    rc, out, err = run("monitor", "--url", gw.url, "--key", KEY.decode(), "--duration-s", "0.5")
    assert rc == 0 and out == "" and "0 frames" in err
    assert time.monotonic() - t0 < 30


def test_the_cli_reads_every_key_encoding_the_daemon_accepts(tmp_path):
    """One parser (diagbridge.link.keyfile) for both ends: a base64: key, which
    the daemon always accepted, now also logs the CLI in."""
    import base64
    from diagbridge.cpy.gateway.config import parse_keys
    from diagbridge_host.cli import read_key_file
    full = b"\x00\xffbinary-full-key-0123"
    diag = b"diagnostic-key-0123456"
    text = ("# keys\nfull: base64:%s\ndiagnostic: hex:%s\nmonitor: plain-monitor-key-123\n"
            % (base64.b64encode(full).decode(), diag.hex()))
    f = tmp_path / "key"
    f.write_text(text)
    assert parse_keys(text) == ((3, full), (2, diag), (1, b"plain-monitor-key-123"))
    assert read_key_file(str(f), "full") == full
    assert read_key_file(str(f), "diagnostic") == diag
    assert read_key_file(str(f), "monitor") == b"plain-monitor-key-123"
    f.write_text("full: base64:%s\n" % base64.b64encode(full).decode())
    assert read_key_file(str(f), "monitor") == full          # a higher role's key proves it
    for bad in ("full: base64:AAAA!AAA", "full: hex:abc", "full: short", "x: y\nz"):
        f.write_text(bad)
        with pytest.raises(CliError) as e:
            read_key_file(str(f), "full")
        assert "AAAA" not in str(e.value) and "abc" not in str(e.value)


def test_a_base64_key_file_logs_the_cli_into_the_daemon(tmp_path):
    """The bug this pins: the daemon read `full: base64:...` and the CLI sent the
    literal text as the key, so the login failed."""
    import base64
    key = bytes(range(200, 224))                # binary: only hex:/base64: can say it
    r = Rig(keys=((P.ROLE_FULL, key),))
    try:
        f = tmp_path / "key"
        f.write_text("full: base64:%s\n" % base64.b64encode(key).decode())
        rc, out, err = run("status", "--url", r.url, "--key-file", str(f), "--role", "full")
        assert rc == 0 and "role full" in out, err
        rc, out, err = run("status", "--url", r.url, "--role", "full", "--key",
                           "base64:" + base64.b64encode(key).decode())
        assert rc == 0 and "role full" in out, err
    finally:
        r.close()
