"""`diagbridge sim` as a user runs it: the simulated vehicle served on a real
TCP host link by its own process, the CLI, udsoncan and the host library in
other processes / connections against it; ECU state kept across commands,
across ECU resets (each ECU's NVM) and, with --nvm, across restarts; SIGINT
ends it cleanly.  Real clock: generous timeouts, no timing asserts."""
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading

import pytest
import udsoncan
from udsoncan.client import Client

from diagbridge_host import connect
from diagbridge_host.obd import Obd
from diagbridge_host.sim_server import SimServer
from diagbridge_host.udsoncan import GatewayConnection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 120
KEY = "sim-test-key-0123456789abcdef"


class Sim:
    """`diagbridge sim` in a subprocess on a free port."""

    def __init__(self, *extra):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "diagbridge_host.main", "sim", "--listen",
             "tcp://127.0.0.1:0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT)
        self.lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.lines.get(timeout=TIMEOUT_S)
        m = re.search(r"tcp://127\.0\.0\.1:\d+", first)
        assert m, first + self.proc.stderr.read()
        self.url = m.group(0)
        self.banner = first

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def cli(self, *argv, key=None):
        args = [sys.executable, "-m", "diagbridge_host.main", *argv, "--url", self.url]
        if key:
            args += ["--key", key]
        return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S,
                              cwd=ROOT)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(TIMEOUT_S)
        rest = []
        while True:
            line = self.lines.get(timeout=TIMEOUT_S)
            if not line:
                break
            rest.append(line.rstrip("\n"))
        return rc, rest, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT_S)


@pytest.fixture
def sim():
    s = Sim()
    yield s
    s.kill()


def _confirmed(sim):
    p = sim.cli("dtc", "read", "7E0", "--mask", "08", "--json")
    assert p.returncode == 0, p.stderr
    return [d["dtc"] for d in json.loads(p.stdout)["dtcs"]]


def test_cleared_dtcs_stay_cleared_across_commands_and_an_ecu_reset(sim):
    assert "hosts need no key" in sim.banner and "Ctrl-C stops" in sim.banner
    before = _confirmed(sim)
    assert "010100" in before and len(before) == 11
    p = sim.cli("dtc", "clear", "7E0")
    assert p.returncode == 0 and "DTCs of 0x7E0 cleared" in p.stdout, p.stderr
    assert _confirmed(sim) == []
    p = sim.cli("reset", "7E0")
    assert p.returncode == 0 and "reset (type 0x01)" in p.stdout, p.stderr
    assert _confirmed(sim) == []                    # the ECU's NVM kept the clear
    p = sim.cli("obd", "dtc", "--json")
    assert json.loads(p.stdout)["ecus"][0]["dtcs"] == []
    # the other ECUs were untouched; the gateway is still the same one
    p = sim.cli("obd", "--all", "vin", "--json")
    assert [e["ecu"] for e in json.loads(p.stdout)["ecus"]] == ["7E8", "7E9"]
    rc, rest, err = sim.stop()
    assert rc == 0, err
    assert rest == ["diagbridge sim: stopped"] and "Traceback" not in err


def test_a_written_did_survives_a_reset_and_udsoncan_sees_it(sim):
    p = sim.cli("write-did", "7E0", "F190", "WVWZZZ1JZXW999999", "--session", "3",
                "--unlock", "1", "--secret", "EngineExt01")
    assert p.returncode == 0, p.stderr
    assert sim.cli("reset", "7E0").returncode == 0
    with connect(sim.url, timeout_s=30) as conn:
        cfg = dict(udsoncan.configs.default_client_config)
        cfg["data_identifiers"] = {0xF190: udsoncan.AsciiCodec(17),
                                   0xF187: udsoncan.AsciiCodec(10)}
        with Client(GatewayConnection(conn, bus=0, tx_id=0x7E0, rx_id=0x7E8),
                    config=cfg) as client:
            assert client.read_data_by_identifier(0xF190).service_data.values[0xF190] == \
                "WVWZZZ1JZXW999999"
            client.change_session(3)
            r = client.get_dtc_by_status_mask(0x08)
            assert len(r.service_data.dtcs) == 11
        with Client(GatewayConnection(conn, bus=0, tx_id=0x7E1, rx_id=0x7E9),
                    config=cfg) as client:
            assert client.read_data_by_identifier(0xF187).service_data.values[0xF187] == \
                "GBX0001234"
        with Obd.open(conn) as obd:
            assert obd.vin() == "WVWZZZ1JZXW999999"     # mode 09 reads the same F190
    rc, _rest, err = sim.stop()
    assert rc == 0, err


def test_nvm_dir_keeps_state_across_restarts(tmp_path):
    nvm = str(tmp_path / "nvm")
    s = Sim("--nvm", nvm)
    try:
        assert s.cli("dtc", "clear", "7E0").returncode == 0
        assert s.stop()[0] == 0
    finally:
        s.kill()
    assert sorted(os.listdir(nvm)) == ["abs", "engine", "gearbox"]
    s = Sim("--nvm", nvm)
    try:
        assert "NVM in " + nvm in s.banner
        assert _confirmed(s) == []
        assert s.stop()[0] == 0
    finally:
        s.kill()
    s = Sim()                                       # without --nvm: a fresh vehicle
    try:
        assert len(_confirmed(s)) == 11
    finally:
        s.kill()


def test_key_file_logins(tmp_path):
    kf = tmp_path / "keys"
    kf.write_text("full: %s\n" % KEY)
    kf.chmod(0o600)
    s = Sim("--key-file", str(kf))
    try:
        assert "hosts need a key (full)" in s.banner
        p = s.cli("read-did", "7E0", "F190")
        assert p.returncode == 1 and "--key" in p.stderr and "Traceback" not in p.stderr
        p = s.cli("read-did", "7E0", "F190", "--role", "full", key=KEY)
        assert p.returncode == 0 and "W0L000043MB541326" in p.stdout, p.stderr
        assert s.stop()[0] == 0
    finally:
        s.kill()


@pytest.mark.parametrize("argv, words", [
    (("--listen", "tcp://0.0.0.0:0"), "give --key-file"),
    (("--listen", "nonsense"), "write tcp://HOST:PORT"),
    (("--key-file", "/nonexistent/keys"), "no such file"),
])
def test_bad_options_are_one_line_and_exit_2(argv, words):
    p = subprocess.run([sys.executable, "-m", "diagbridge_host.main", "sim", *argv],
                       capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    assert p.returncode == 2, p.stderr
    assert words in p.stderr and "Traceback" not in p.stderr


def test_a_taken_port_is_exit_1():
    s = Sim()
    try:
        port = s.url.rsplit(":", 1)[1]
        p = subprocess.run([sys.executable, "-m", "diagbridge_host.main", "sim", "--listen",
                            "tcp://127.0.0.1:" + port], capture_output=True, text=True,
                           timeout=TIMEOUT_S, cwd=ROOT)
        assert p.returncode == 1 and "cannot listen" in p.stderr, p.stderr
    finally:
        s.kill()


def test_in_process_server_and_call():
    with SimServer("tcp://127.0.0.1:0").start() as srv:
        srv.call(lambda v: setattr(v.engine_state, "speed_kmh", 87))
        with connect(srv.url, timeout_s=30) as conn, Obd.open(conn) as obd:
            assert obd.query("SPEED").value == 87
            assert obd.query_all("SPEED")[0x7E8].value == 87
        with pytest.raises(ZeroDivisionError):
            srv.call(lambda v: 1 // 0)              # the caller gets the call's exception


def test_python_can_sees_the_obd_answer_frames(sim):
    import can
    with can.Bus(interface="diagbridge", channel=sim.url) as bus:
        bus.set_filters([{"can_id": 0x7E8, "can_mask": 0x7F0}])
        # a single-frame functional request, as an OBD scan tool sends it
        bus.send(can.Message(arbitration_id=0x7DF, is_extended_id=False,
                             data=b"\x02\x01\x0c\x00\x00\x00\x00\x00"))
        got = None
        for _ in range(20):
            m = bus.recv(0.5)
            if m is not None and m.arbitration_id == 0x7E8:
                got = m
                break
        assert got is not None and bytes(got.data[:5]) == b"\x04\x41\x0c\x0d\x48"
    assert sim.stop()[0] == 0
