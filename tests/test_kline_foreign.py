"""Foreign K-Line peers over pseudo-terminals (the optional `kline-peers` extra:
`pip install -e .[kline-peers]`; each test skips with its reason without it).

* gkbus, a KWP2000 tester over pyserial, against our ECU runner: it sends the
  StartCommunication 81 EE F0 81 E0 (length in the format byte), ignores the
  key bytes, and puts every request's length in the format byte, so our ECU
  answers with key bytes EF 8F (both length forms).
* ELM327-emulator (`python -m elm -K PORT`, its K-Line ECU mode) against our
  tester: it answers StartCommunication at once with key bytes 8F 8F, which
  the standard does not allow (KB1 bit 6 clear): our tester refuses the init
  with K_KEY_BYTES_ERROR, and the response started sooner than P2min.

Real clocks: behaviour is asserted with generous timeouts, never timing."""
import os
import subprocess
import sys
import tempfile
import time

import pytest

from diagbridge.codes import K_KEY_BYTES_ERROR
from diagbridge.kline import EcuConfig, TesterConfig as KTesterConfig
from diagbridge.kline import timing as T
from diagbridge.cpy.kline.ecu import KLineEcuRunner
from diagbridge.cpy.kline.port import KLineLinkError
from diagbridge.cpy.kline.ptywire import PtyWire
from diagbridge.cpy.kline.tester import KLineTesterPort

SLACK_US = 15000        # echo latency allowed: threads on a shared machine
EXTRA = "the kline-peers extra is not installed (pip install -e .[kline-peers])"


def ecu_answer(req, functional):
    if req[0] == 0x1A:
        return b"\x5A" + req[1:2] + b"DIAGBRIDGE-K"
    return bytes((0x7F, req[0], 0x11))


def test_gkbus_tester_against_our_ecu():
    pytest.importorskip("gkbus", reason="gkbus: " + EXTRA)
    from gkbus.hardware import KLineHardware
    from gkbus.protocol import kwp2000
    from gkbus.protocol.kwp2000.kwp2000_protocol import Kwp2000NegativeResponseException
    from gkbus.transport import Kwp2000OverKLineTransport

    class PtyKLineHardware(KLineHardware):
        # gkbus pulses DTR/RTS for KKL cables; a pty has no modem lines
        def _reset_adapter(self):
            pass

        def _set_kline_mode(self):
            pass

    wire = PtyWire(2, record=True)
    ecu = KLineEcuRunner(wire.names[1], ecu_answer,
                         EcuConfig(address=0xEE, kb1=0xEF, kb2=0x8F, echo_slack_us=SLACK_US),
                         paced=False)
    kwp = None
    try:
        hw = PtyKLineHardware(wire.names[0])
        kwp = kwp2000.Kwp2000Protocol(Kwp2000OverKLineTransport(hw, tx_id=0xEE, rx_id=0xF0))
        kwp.init(kwp2000.commands.StartCommunication())
        # gkbus's fast init reached our ECU, which initialised once
        assert bytes(wire.traffic[:5]) == b"\x81\xEE\xF0\x81\xE0"
        assert ecu.inits == 1 and ecu.machine.initialised
        rsp = kwp.execute(kwp2000.commands.ReadEcuIdentification(0x80))
        assert rsp.frame.status == 0x5A
        assert rsp.frame.data == b"\x80DIAGBRIDGE-K"
        # its request came with the length in the format byte: 82 EE F0 1A 80 cs
        assert b"\x82\xEE\xF0\x1A\x80\xFA" in bytes(wire.traffic)
        assert (0xF0, b"\x1A\x80", False) in list(ecu.requests)
        # a negative response reaches gkbus as its exception
        with pytest.raises(Kwp2000NegativeResponseException) as e:
            kwp.execute(kwp2000.commands.ReadDataByLocalIdentifier(0x01))
        assert e.value.status.identifier == 0x11
    finally:
        if kwp is not None:
            kwp.close()
        ecu.close()
        wire.close()


def _start_elm(port):
    out = tempfile.NamedTemporaryFile("w+", suffix=".elm.txt", delete=False)
    out.close()
    # its own folder: the emulator writes elm.log where it runs
    proc = subprocess.Popen([sys.executable, "-m", "elm", "-K", port, "-b", out.name],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    end = time.monotonic() + 30.0
    while time.monotonic() < end and proc.poll() is None:
        with open(out.name) as f:
            if "K-Line interface started" in f.read():
                return proc, out.name
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    os.unlink(out.name)
    pytest.fail("ELM327-emulator did not start its K-Line interface")


def test_elm327_emulator_key_bytes_are_refused_by_our_tester():
    pytest.importorskip("elm.kline", reason="ELM327-emulator: " + EXTRA)
    # The emulator echoes what it receives itself (it plays the KKL adapter
    # too), so the wire does not echo.
    wire = PtyWire(2, echo=False)
    proc, out = _start_elm(wire.names[1])
    tester = KLineTesterPort(wire.names[0], KTesterConfig(tidle_us=0, echo_slack_us=SLACK_US),
                             target=0x33, paced=False, timing="warn")
    try:
        with pytest.raises(KLineLinkError) as e:
            tester.fast_init(timeout=10.0)
        # C1 8F 8F: KB1 bit 6 is clear, not a key byte of ISO 14230-2
        assert e.value.result == K_KEY_BYTES_ERROR and e.value.name == "K_KEY_BYTES_ERROR"
        assert tester.errors[K_KEY_BYTES_ERROR] == 1
        assert not tester.initialised
        # its answer started sooner after our request than P2min allows
        assert tester.machine.p2_us < T.P2MIN_US
    finally:
        tester.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.unlink(out)
        wire.close()
