"""The CPython facades (blocking and asyncio) over python-can's virtual bus
against our ECU (diagbridge.cpy.ecu.runner): the same core behaviour as in
the simulation.  Real clock: generous timeouts, no timing asserts."""
import asyncio
import itertools
import threading
import zlib

import can
import pytest

from diagbridge.codes import OK, A_TIMEOUT_P2, A_NEGATIVE_RESPONSE
from diagbridge.cpy.cantp.blocking import open_channel
from diagbridge.cpy.cantp.aio import AsyncCanTpBus
from diagbridge.cpy.ecu.runner import EcuRunner, build_ecu
from diagbridge.cpy.uds.client import UdsClient, NegativeResponseError, UdsTimeout
from diagbridge.cpy.uds.aio import AsyncUdsClient
from diagbridge.uds.client import api
from diagbridge.uds.codec.dtc import SF_RDTCBSM
from diagbridge.uds.client.flash import FlashConfig, key_diagbridge1, VERIFY_UPLOAD
from diagbridge.uds.server.profiles import engine

_chan = itertools.count()
REG = api.DidRegistry.from_profile(engine.profile())
KEY3 = key_diagbridge1(b"EngineProg03")
KEY1 = key_diagbridge1(b"EngineExt01")


@pytest.fixture
def ecu_bus():
    ch = "uds-client-%d" % next(_chan)
    bus_ecu = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    bus_tester = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    runner = EcuRunner(bus_ecu, build_ecu("engine"))
    yield bus_tester, runner, ch
    runner.close()
    bus_ecu.shutdown()
    bus_tester.shutdown()


def test_blocking_client_services_and_nrcs(ecu_bus):
    bus, runner, _ = ecu_bus
    with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF) as tp:
        with UdsClient(tp, registry=REG, p2_timeout=1.0) as uds:
            assert uds.session_control(3).value == (3, 50, 5000)
            assert uds.core.p2_us == 150000         # adopted: 50 ms + margin
            assert uds.unlock(1, KEY1).ok
            assert uds.read_did(0xF190) == "W0L000043MB541326"
            assert uds.write_data(0xF190, "WVWZZZ1JZXW000001").value == 0xF190
            assert uds.read_data((0xF190, 0x0100)).value == {0xF190: "WVWZZZ1JZXW000001",
                                                             0x0100: 3400}
            dtcs = uds.read_dtc(SF_RDTCBSM, status_mask=0x08).value["dtcs"]
            assert len(dtcs) == 11 and dtcs[0].confirmedDTC
            rsp = uds.read_data(0x1234)
            assert rsp.nrc == 0x31 and rsp.nrc_name == "ROOR" and rsp.nrc_text == "requestOutOfRange" and rsp.result == A_NEGATIVE_RESPONSE
            with pytest.raises(NegativeResponseError):
                rsp.raise_for_nrc()
            assert uds.start_routine(0x0201).value.rid == 0x0201
            assert uds.io_control(0x9B00, 3, b"\x10").ok
            assert uds.tester_present(suppress=True).value is None
            assert uds.ecu_reset(1).value == (1, None)
            assert uds.unexpected == 0


def test_blocking_client_keepalive_runs_between_calls(ecu_bus):
    bus, runner, ch = ecu_bus
    seen = []
    spy = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    note = can.Notifier(spy, [lambda m: seen.append(bytes(m.data[:3]))])
    try:
        with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8) as tp:
            with UdsClient(tp, keepalive_period=0.1, p2_timeout=1.0) as uds:
                uds.session_control(3)
                ev = threading.Event()
                ev.wait(0.75)
                n = seen.count(b"\x02\x3e\x80")
                assert n >= 3                        # about 7 in 0.75 s
                assert uds.read_data(0xF18C).ok      # and requests still work
    finally:
        note.stop()
        spy.shutdown()


def test_blocking_client_timeout_is_a_result_or_raises():
    ch = "uds-client-silent-%d" % next(_chan)
    bus = can.Bus(interface="virtual", channel=ch)
    try:
        with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8) as tp:
            with UdsClient(tp, p2_timeout=0.05) as uds:
                assert uds.read_data(0xF190).result == A_TIMEOUT_P2
            with UdsClient(tp, p2_timeout=0.05, raise_on_timeout=True) as uds:
                with pytest.raises(UdsTimeout):
                    uds.read_data(0xF190)
    finally:
        bus.shutdown()


def test_blocking_flash_with_readback(ecu_bus):
    bus, runner, _ = ecu_bus
    img = bytes((i * 13) & 0xFF for i in range(20000))
    seen = []
    with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF) as tp:
        with UdsClient(tp, p2_timeout=1.0) as uds:
            rep = uds.flash(img, FlashConfig(0x10000, key_fn=KEY3, verify=VERIFY_UPLOAD),
                            progress=lambda d, t, r: seen.append(d))
    assert rep.ok, rep
    assert rep.crc_image == rep.crc_readback == zlib.crc32(img) and rep.verified
    assert seen[-1] == 20000 and rep.blocks == 20


def test_asyncio_client_same_behaviour(ecu_bus):
    bus, runner, _ = ecu_bus

    async def main():
        async with AsyncCanTpBus(bus) as tpbus:
            tp = tpbus.open(tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF)
            async with AsyncUdsClient(tp, registry=REG, p2_timeout=1.0) as uds:
                assert (await uds.session_control(3)).value == (3, 50, 5000)
                assert await uds.read_did(0xF18C) == "ENG0004711"
                assert (await uds.read_data(0x1234)).nrc == 0x31
                img = bytes(range(256)) * 20
                rep = await uds.flash(img, FlashConfig(0x10000, key_fn=KEY3))
                assert rep.ok and rep.crc_readback == zlib.crc32(img), rep
    asyncio.run(main())


def test_zlib_crc_shims_match_the_core():
    from diagbridge.cpy.uds.client import ZlibCrc32, crc16_ccitt_c
    from diagbridge.crc import Crc32, crc16_ccitt
    data = bytes((i * 31 + 7) & 0xFF for i in range(3000))
    a, b = Crc32(), ZlibCrc32()
    for off, n in ((0, 1), (1, 1000), (1001, 1999)):
        a.update(data, off, n)
        b.update(bytearray(data), off, n)
        assert a.value() == b.value()
    assert b.value() == zlib.crc32(data)
    b.reset()
    assert b.value() == 0
    assert crc16_ccitt_c(data, 5, 2000) == crc16_ccitt(data, 5, 2000)


def test_blocking_flash_callback_error_reaches_the_caller_and_the_link_stays_usable(ecu_bus):
    # the flash runs in the channel's I/O thread (run_machine): an exception of
    # the progress callback ends it there and is raised here
    bus, runner, _ = ecu_bus
    img = bytes(5000)

    def progress(done, total, rate):
        raise RuntimeError("stop at %d" % done)
    with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF) as tp:
        with UdsClient(tp, p2_timeout=1.0) as uds:
            with pytest.raises(RuntimeError, match="stop at 1024"):
                uds.flash(img, FlashConfig(0x10000, key_fn=KEY3), progress=progress)
            # the outstanding exchange ends by itself; then the link serves again
            for _ in range(20):
                rsp = uds.tester_present()
                if rsp.ok:
                    break
            assert rsp.ok


def test_run_machine_on_a_closed_channel_raises(ecu_bus):
    from diagbridge.cpy.cantp.base import TransportError
    bus, runner, _ = ecu_bus
    tp = open_channel(bus, tx_id=0x7E0, rx_id=0x7E8)
    uds = UdsClient(tp, p2_timeout=1.0, keepalive=False)
    try:
        assert uds.tester_present().ok
        tp.close()
        with pytest.raises(TransportError):
            uds.tester_present()
    finally:
        uds.close()
