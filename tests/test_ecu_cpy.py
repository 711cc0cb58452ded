"""The CPython ECU runner and the ``diagbridge ecu`` command on python-can's
virtual bus, with our own CAN-TP adapter as the tester.  Real clocks:
generous timeouts, behaviour only."""
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time

import can
import pytest

from diagbridge.errors import ConfigError
from diagbridge.ecu import Ecu, EV_ECU_RESET, EV_SESSION_CHANGED
from diagbridge.uds.server.config import UdsServerConfig
from diagbridge.cpy.cantp.blocking import CanTpBus, open_channel
from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu, load_profile_spec
from diagbridge_host import main as cli

T = 10.0
VIN = b"W0L000043MB541326"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_seq = itertools.count()


def _chan():
    return "ecu-cpy-%d-%d" % (os.getpid(), next(_seq))


def _small(rx=0x7E1, tx=0x7E9, name="small"):
    return {"name": name, "addresses": {"rx_id": rx, "tx_id": tx, "functional_id": 0x7DF},
            "modules": ["session", "data"], "sessions": {1: {}, 3: {}},
            "dids": {0xF190: {"length": 17, "value": VIN,
                              "write": {"sessions": [3]}}}}


@pytest.fixture
def buses():
    ch = _chan()
    a = can.Bus(interface="virtual", channel=ch)
    b = can.Bus(interface="virtual", channel=ch)
    yield a, b
    a.shutdown()
    b.shutdown()


def _ask(tp, req, timeout=T):
    tp.send(req, timeout=timeout)
    return tp.recv(timeout=timeout)


def test_runner_serves_the_engine_profile(buses):
    events = []
    ecu = build_ecu("engine")
    with EcuRunner(buses[0], ecu, on_event=lambda ev, e: events.append(ev)) as runner:
        with open_channel(buses[1], tx_id=0x7E0, rx_id=0x7E8) as tp:
            assert _ask(tp, b"\x22\xf1\x90") == b"\x62\xf1\x90" + VIN
            assert _ask(tp, b"\x10\x03") == bytes.fromhex("5003003201f4")
            assert runner.call(lambda: ecu.srv.session) == 3
            assert _ask(tp, b"\x22\x12\x34") == b"\x7f\x22\x31"
        assert EV_SESSION_CHANGED in runner.call(lambda: list(events))
    runner.close()                                   # idempotent


def test_response_pending_and_ecu_reset_on_the_real_clock(buses):
    events = []
    ecu = build_ecu("engine")
    with EcuRunner(buses[0], ecu, on_event=lambda ev, e: events.append(ev)) as runner:
        with open_channel(buses[1], tx_id=0x7E0, rx_id=0x7E8) as tp:
            _ask(tp, b"\x10\x03")
            # checksum routine: 100 ms > P2 (50 ms) -> 7F 31 78 first
            tp.send(bytes.fromhex("31010203" "44" "00010000" "00000010"), timeout=T)
            assert tp.recv(timeout=T) == b"\x7f\x31\x78"
            assert tp.recv(timeout=T)[:4] == b"\x71\x01\x02\x03"
            assert _ask(tp, b"\x11\x01") == b"\x51\x01"
            deadline = time.monotonic() + T
            while EV_ECU_RESET not in runner.call(lambda: list(events)):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert runner.call(lambda: (ecu.resets, ecu.srv.session)) == (1, 1)
            assert _ask(tp, b"\x22\xf1\x90")[:3] == b"\x62\xf1\x90"


def test_s3_timeout_on_the_real_clock(buses):
    ecu = Ecu(_small(), cfg=UdsServerConfig(s3_server_ms=200))
    with EcuRunner(buses[0], ecu) as runner:
        with open_channel(buses[1], tx_id=0x7E1, rx_id=0x7E9) as tp:
            assert _ask(tp, b"\x10\x03")[:2] == b"\x50\x03"
            deadline = time.monotonic() + T
            while runner.call(lambda: ecu.srv.session) != 1:
                assert time.monotonic() < deadline
                time.sleep(0.02)


def test_two_ecus_answer_a_functional_request():
    ch = _chan()
    buses = [can.Bus(interface="virtual", channel=ch) for _ in range(3)]
    try:
        _two_ecus(buses)
    finally:
        for b in buses:
            b.shutdown()


def _two_ecus(buses):
    # one bus object per reader: each runner has its own I/O thread
    with EcuRunner(buses[0], build_ecu("engine")), \
            EcuRunner(buses[2], Ecu(_small())), CanTpBus(buses[1]) as tpbus:
        eng = tpbus.open(tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF)
        gbx = tpbus.open(tx_id=0x7E1, rx_id=0x7E9)
        eng.send(b"\x3e\x00", timeout=T, functional=True)
        assert eng.recv(timeout=T) == b"\x7e\x00"
        assert gbx.recv(timeout=T) == b"\x7e\x00"
        eng.send(b"\x3e\x80", timeout=T, functional=True)     # suppressed
        assert eng.recv(timeout=0.3) is None and gbx.recv(timeout=0.3) is None


def test_nvm_dir_keeps_written_values(buses, tmp_path):
    nvm = str(tmp_path / "nvm")
    with EcuRunner(buses[0], build_ecu(_small(), nvm_dir=nvm)):
        with open_channel(buses[1], tx_id=0x7E1, rx_id=0x7E9) as tp:
            _ask(tp, b"\x10\x03")
            assert _ask(tp, b"\x2e\xf1\x90" + b"X" * 17) == b"\x6e\xf1\x90"
    ecu = build_ecu(_small(), nvm_dir=nvm)                    # "power cycle"
    with EcuRunner(buses[0], ecu):
        with open_channel(buses[1], tx_id=0x7E1, rx_id=0x7E9) as tp:
            assert _ask(tp, b"\x22\xf1\x90") == b"\x62\xf1\x90" + b"X" * 17


def test_can_fd_frames(tmp_path):
    ch = _chan()
    a = can.Bus(interface="virtual", channel=ch, fd=True)
    b = can.Bus(interface="virtual", channel=ch, fd=True)
    spy = can.Bus(interface="virtual", channel=ch, fd=True)
    seen = []
    listener = can.BufferedReader()
    notifier = can.Notifier(spy, [listener], timeout=0.1)
    try:
        with EcuRunner(a, build_ecu("engine", fd=True)):
            with open_channel(b, tx_id=0x7E0, rx_id=0x7E8, fd=True, tx_dl=64) as tp:
                r = _ask(tp, b"\x19\x02\xff")
                assert r[:3] == b"\x59\x02\xff" and len(r) == 83
        msg = listener.get_message(0.5)
        while msg is not None:
            seen.append(msg)
            msg = listener.get_message(0)
        assert any(m.is_fd and m.arbitration_id == 0x7E8 and len(m.data) == 64 for m in seen)
    finally:
        notifier.stop()
        for bus in (a, b, spy):
            bus.shutdown()


# ---- profiles and build_ecu ------------------------------------------------------
def test_load_profile_from_json_and_toml(tmp_path):
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"name": "js", "addresses": {"rx_id": 0x7E2, "tx_id": 0x7EA},
                             "dids": {"0xF190": {"length": 3, "value": "ABC"}}}))
    assert load_profile_spec(str(j)).name == "js"
    t = tmp_path / "p.toml"
    t.write_text('name = "tm"\n[addresses]\nrx_id = 0x7E3\ntx_id = 0x7EB\n'
                 '[dids.0xF190]\nlength = 2\nvalue = "AB"\n')
    if sys.version_info >= (3, 11):
        p = load_profile_spec(str(t))
        assert p.name == "tm" and p.addresses["rx_id"] == 0x7E3


@pytest.mark.parametrize("content, ext, words", [
    (None, ".json", "no such file"),
    ("{}", ".yaml", "neither a built-in profile"),
    ("{not json", ".json", "p.json"),
    (json.dumps({"dids": {"0xF190": {"length": 0}}}), ".json", "dids.0xF190.length"),
    (json.dumps({"addresses": {"rx_id": "x"}}), ".json", "addresses"),
])
def test_bad_profiles_are_clear_config_errors(tmp_path, content, ext, words):
    path = tmp_path / ("p" + ext)
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as e:
        load_profile_spec(str(path))
    assert words in str(e.value)


def test_build_ecu_options(tmp_path):
    with pytest.raises(ConfigError):
        build_ecu(_small(), files_dir=str(tmp_path / "f"))       # no transfer module
    ecu = build_ecu("engine", files_dir=str(tmp_path / "f"), fd=True, reset_ms=100)
    assert os.path.isdir(str(tmp_path / "f")) and ecu.cfg.fd and ecu.cfg.tx_dl == 64
    with pytest.raises(ConfigError):
        build_ecu({"addresses": {}})                             # no rx_id / tx_id


# ---- the diagbridge command ------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["ecu", "--profile", "missing.json"], "no such file"),
    (["ecu", "--profile", "x.ini"], "neither a built-in profile"),
    (["ecu"], "--profile"),
    ([], "COMMAND"),
])
def test_cli_usage_errors(capsys, args, words):
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    assert e.value.code == 2
    assert words in capsys.readouterr().err


def test_cli_bad_profile_field(tmp_path, capsys):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"sessions": {"0x03": {"p2star_ms": 15}}}))
    with pytest.raises(SystemExit) as e:
        cli.main(["ecu", "--profile", str(p), "--interface", "virtual", "--channel", "x"])
    assert e.value.code == 2 and "sessions.0x03.p2star_ms" in capsys.readouterr().err


def test_cli_bus_that_cannot_open(capsys):
    assert cli.main(["ecu", "--profile", "engine", "--interface", "no-such-interface",
                     "--channel", "x"]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_cli_serves_until_sigterm_in_process(capsys):
    """main() in this (main) thread on a virtual bus; a tester thread talks to
    it, then sends SIGTERM, which the command handles."""
    ch = _chan()
    got = {}

    def tester():
        bus = can.Bus(interface="virtual", channel=ch)
        try:
            with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8) as tp:
                for _ in range(int(T / 0.2)):           # until the ECU is up
                    tp.send(b"\x22\xf1\x90", timeout=T)
                    r = tp.recv(timeout=0.2)
                    if r is not None:
                        got["vin"] = r
                        break
        finally:
            bus.shutdown()
            # only when the command's handler is in place (else SIGTERM kills pytest)
            deadline = time.monotonic() + T
            while signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
                os.kill(os.getpid(), signal.SIGTERM)
    th = threading.Thread(target=tester)
    old = signal.getsignal(signal.SIGTERM)
    th.start()
    rc = cli.main(["ecu", "--profile", "engine", "--interface", "virtual", "--channel", ch])
    th.join(T)
    assert rc == 0 and got["vin"] == b"\x62\xf1\x90" + VIN
    assert signal.getsignal(signal.SIGTERM) == old              # handler restored
    out = capsys.readouterr().out
    assert "serving 'engine'" in out and "rx 0x7E0, tx 0x7E8, functional 0x7DF" in out
    assert out.rstrip().endswith("stopped")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_subprocess_stops_cleanly_on_a_signal(sig):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "diagbridge_host.main", "ecu", "--profile",
                          "engine", "--interface", "virtual", "--channel", "sub", "-v"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=ROOT)
    try:
        line = p.stdout.readline()
        assert "serving 'engine'" in line, p.stderr.read()
        p.send_signal(sig)
        out, err = p.communicate(timeout=T)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "stopped" in out
    assert "engine: stopped" in err                 # -v: the runner's INFO log


def test_console_script_is_declared():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        text = f.read()
    assert 'diagbridge = "diagbridge_host.main:main"' in text
