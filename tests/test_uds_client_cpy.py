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
from diagbridge.cpy.cantp.blocking import CanTpBus
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
    assert seen[-1] == 20000 and rep.blocks == 10           # 2048-byte blocks (0x802)


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
            with pytest.raises(RuntimeError, match="stop at 2048"):     # the first block
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


# -- P2 stops at a segmented response's first frame (ISO 14229-2 §6.3) ---------------

def _slow_responder(raw, n_cf, gap_s, stop):
    """Answer one 22 F1 90 with a segmented response of 6 + 7 * n_cf bytes
    whose consecutive frames come gap_s apart (the transfer outlasts P2)."""
    length = 6 + 7 * n_cf
    rsp = bytes([0x62, 0xF1, 0x90]) + bytes(i & 0xFF for i in range(length - 3))
    while not stop.is_set():
        m = raw.recv(0.05)
        if m is None or m.arbitration_id != 0x7E0 or bytes(m.data[:4]) != b"\x03\x22\xF1\x90":
            continue
        raw.send(can.Message(arbitration_id=0x7E8, is_extended_id=False,
                             data=bytes([0x10 | (length >> 8), length & 0xFF]) + rsp[:6]))
        while True:                         # our tester's FC (BS 0: one is enough)
            fc = raw.recv(5.0)
            assert fc is not None
            if fc.arbitration_id == 0x7E0 and fc.data[0] == 0x30:
                break
        for k in range(n_cf):
            stop.wait(gap_s)
            raw.send(can.Message(arbitration_id=0x7E8, is_extended_id=False,
                                 data=bytes([0x20 | ((k + 1) & 0xF)]) + rsp[6 + 7 * k:13 + 7 * k]))
        return rsp


def _with_slow_ecu(body):
    ch = "uds-slow-%d" % next(_chan)
    raw = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    bus = can.Bus(interface="virtual", channel=ch, receive_own_messages=False)
    stop = threading.Event()
    out = []
    t = threading.Thread(target=lambda: out.append(_slow_responder(raw, 24, 0.05, stop)))
    t.start()
    try:
        body(bus)
    finally:
        stop.set()
        t.join(10)
        raw.shutdown()
        bus.shutdown()
    return out[0]


def test_blocking_p2_stops_at_the_first_frame_of_a_long_response():
    """P2 = 0.3 s; the response takes about 1.2 s to stream in: it completes."""
    got = []

    def body(bus):
        with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8, n_cr_ms=5000) as tp:
            with UdsClient(tp, p2_timeout=0.3, keepalive=False) as uds:
                got.append(uds.request(b"\x22\xF1\x90"))
    rsp = _with_slow_ecu(body)
    assert got[0].result == OK and got[0].data == rsp and len(rsp) == 174


def test_asyncio_p2_stops_at_the_first_frame_of_a_long_response():
    got = []

    def body(bus):
        async def main():
            async with AsyncCanTpBus(bus) as tb:
                tp = tb.open(tx_id=0x7E0, rx_id=0x7E8, n_cr_ms=5000)
                uds = AsyncUdsClient(tp, p2_timeout=0.3, keepalive=False)
                got.append(await uds.request(b"\x22\xF1\x90"))
                assert tp.on_first_frame is None        # the hook is given back
                await uds.close()
        asyncio.run(main())
    rsp = _with_slow_ecu(body)
    assert got[0].result == OK and got[0].data == rsp


# -- a flash read from a file block by block (cpy/uds/image.py) -------------------------

class _CountingFile:
    """A file-like object that records every read() and what it returned."""

    def __init__(self, path):
        self._fh = open(path, "rb")
        self.sizes = []

    def read(self, n=-1):
        d = self._fh.read(n)
        self.sizes.append(len(d))
        return d

    def seek(self, off, whence=0):
        return self._fh.seek(off, whence)

    def tell(self):
        return self._fh.tell()

    def seekable(self):
        return True

    def close(self):
        self._fh.close()


def test_blocking_flash_of_1_mib_from_a_file_like_object(ecu_bus, tmp_path):
    from diagbridge.uds.client.flash import VERIFY_ROUTINE
    from diagbridge.cpy.uds.image import ImageReader
    bus, runner, _ = ecu_bus
    size = 0x100000
    img = bytes((i * 7 + (i >> 10)) & 0xFF for i in range(size))
    path = tmp_path / "ecu.bin"
    path.write_bytes(img)
    src = _CountingFile(path)
    reader = ImageReader(src)
    with open_channel(bus, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF) as tp:
        with UdsClient(tp, p2_timeout=2.0) as uds:
            rep = uds.flash(reader, FlashConfig(0x10000, key_fn=KEY3, verify=VERIFY_ROUTINE,
                                                functional_prep=False))
    src.close()
    assert rep.ok, rep
    assert rep.bytes == size and rep.crc_image == zlib.crc32(img) and rep.verified
    # the ECU's memory holds exactly the file
    out = bytearray(size)
    runner.call(lambda e: e.srv.uds_transfer.store.read(0x10000, out, 0, size), runner.ecu)
    assert bytes(out) == img
    # read block by block: one read per TransferData block, never the image
    blk = rep.block_len
    assert rep.blocks == (size + blk - 1) // blk
    assert len(src.sizes) == rep.blocks and max(src.sizes) == blk
    assert sum(src.sizes) == size
    assert reader.reads == rep.blocks and reader.peak_bytes == blk


def test_image_reader_iterable_path_and_misuse(tmp_path):
    from diagbridge.cpy.uds.image import ImageReader, as_image
    from diagbridge.cpy.uds.client import crc16_ccitt_c
    from diagbridge.crc import crc16_ccitt
    from diagbridge.errors import ConfigError, UsageError
    data = bytes(range(256)) * 40                       # 10240 bytes
    chunks = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    r = as_image(iter(chunks), size=len(data))
    assert isinstance(r, ImageReader) and len(r) == len(data)
    assert bytes(r[0:300]) == data[:300] and bytes(r[0:300]) == data[:300]   # a repeat
    assert r[300] == data[300] and bytes(r[301:1700]) == data[301:1700]
    assert r.reads == 2 and r.peak_bytes <= 2000
    with pytest.raises(UsageError):                     # an iterable cannot go back
        r[0:10]
    assert crc16_ccitt_c(r, 0, len(r)) == crc16_ccitt(data, 0, len(data))
    path = tmp_path / "img.bin"
    path.write_bytes(data)
    with as_image(str(path)) as p:
        assert len(p) == len(data) and bytes(p[5000:5010]) == data[5000:5010]
        assert bytes(p[10:20]) == data[10:20]           # a file seeks back
        assert p.crc16() == crc16_ccitt(data, 0, len(data))
    assert as_image(data) is data
    with pytest.raises(ConfigError):
        as_image(iter(chunks))                          # an iterable needs its size
    with pytest.raises(ConfigError):
        as_image(data, size=5)
    short = as_image(iter(chunks[:2]), size=len(data))
    with pytest.raises(ConfigError):                    # the source ended too soon
        short[0:3000]


# -- functional requests to several ECUs ---------------------------------------------

def _small_ecu():
    from diagbridge.ecu import Ecu
    return Ecu({"name": "small", "addresses": {"rx_id": 0x7E1, "tx_id": 0x7E9,
                                               "functional_id": 0x7DF},
                "modules": ["session", "data"], "sessions": {1: {}, 3: {}},
                "dids": {0xF190: {"length": 17, "value": "WVWZZZ1JZXW000777"}}})


def test_blocking_functional_request_collects_every_ecu():
    ch = "uds-func-%d" % next(_chan)
    buses = [can.Bus(interface="virtual", channel=ch) for _ in range(3)]
    try:
        with EcuRunner(buses[0], build_ecu("engine")), EcuRunner(buses[2], _small_ecu()), \
                CanTpBus(buses[1]) as tpbus:
            eng = tpbus.open(tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF)
            gbx = tpbus.open(tx_id=0x7E1, rx_id=0x7E9)
            silent = tpbus.open(tx_id=0x7E2, rx_id=0x7EA)       # no ECU there
            with UdsClient(eng, registry=REG, keepalive=False) as uds:
                got = uds.functional(api.read_data(0xF190), (eng, gbx, silent),
                                     window_ms=300)
                assert sorted(got) == [0x7E8, 0x7E9]
                assert got[0x7E8].ok and got[0x7E8].value == {0xF190: "W0L000043MB541326"}
                # the small ECU's 20-byte answer is segmented: collected whole
                assert got[0x7E9].ok and got[0x7E9].data == b"\x62\xF1\x90WVWZZZ1JZXW000777"
                # an NRC is an answer too (0x13: a functional request keeps it)
                got = uds.functional(b"\x22\xF1", (eng, gbx), window_ms=300)
                assert sorted(got) == [0x7E8, 0x7E9]
                assert all(r.nrc == 0x13 and r.result == A_NEGATIVE_RESPONSE
                           for r in got.values())
                # 0x31 is dropped for a functional request (ISO 14229-1 §7.5): no answer
                assert uds.functional(b"\x22\x12\x34", (eng, gbx), window_ms=200) == {}
                # the channels are given back: physical requests work as before
                assert uds.read_did(0xF190) == "W0L000043MB541326"
                assert gbx.recv(timeout=0.2) is None
    finally:
        for b in buses:
            b.shutdown()
