# The flashing workflow against our server on the virtual 500 kbit/s bus:
# the whole sequence, block counter wrap, resume after a lost response,
# progress, CRC before and after, failures as results, and the 1 MiB
# download against the bus's physical limit (1 MiB on CPython; MicroPython
# runs the same test on a smaller image).  Speed figures: tools/bench_flash.py.
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, A_VERIFY_FAILED
from diagbridge.errors import ConfigError
from diagbridge.sim.canbus import FAULT_DROP
from diagbridge.sim.recorder import Recorder
from diagbridge.crc import Crc32, crc16_ccitt
from diagbridge.uds.client.flash import (Flasher, FlashConfig, key_diagbridge1,
                                  EV_DONE, EV_PROGRESS, ST_KEY, ST_CHECKSUM, VERIFY_NONE,
                                  VERIFY_ROUTINE, VERIFY_UPLOAD)
from diagbridge.uds.client import flash as F
from diagbridge.link.proto import FLASH_STEP_NAMES, flash_step_name as step_name
from diagbridge.uds.server.transfer_machine import context as transfer_context
from uds_client_support import Rig, engine_server
from support import MICROPYTHON, raises

KEY = key_diagbridge1(b"EngineProg03")
BASE = 0x00010000
PHYS_500K_BPS = 30235       # ISO-TP payload at 500 kbit/s, STmin 0, BS 0 (peer-baseline.md)


def image(size):
    return bytes(((i * 7) ^ (i >> 8)) & 0xFF for i in range(size))


def crc32(data):
    c = Crc32()
    c.update(data, 0, len(data))
    return c.value()


def flash(img, cfg=None, recorder=None, fault=None, progress=None, srv=None):
    f = Flasher(img, cfg or FlashConfig(BASE, key_fn=KEY), progress=progress)
    srv = srv or engine_server()
    r = Rig([f], [srv], recorder=recorder)
    if fault is not None:
        r.bus.fault = fault
    f.start(r.k.now)
    r.tester.kick()
    r.run_until_done(f, EV_DONE, 2000000000)
    return f, r, srv


def test_crc_vectors():
    assert crc32(b"123456789") == 0xCBF43926
    assert crc16_ccitt(b"123456789", 0, 9) == 0x29B1


def test_whole_sequence_with_functional_prep_and_readback():
    rec = Recorder()
    img = image(5000)
    f, r, srv = flash(img, recorder=rec)
    assert f.result == OK and step_name(f.step) == "done"
    assert f.block_len == 0x802 - 2 and f.blocks == 3 and f.repeats == 0
    assert f.crc_image == crc32(img) == f.crc_readback and f.verified
    firsts = [(x[5], bytes(x[6][0:4])) for x in rec.records if x[4] == "tester"]
    func = [d for i, d in firsts if i == 0x7DF]
    assert func == [b"\x02\x85\x82\xcc", b"\x03\x28\x81\x01", b"\x03\x28\x80\x01",
                    b"\x02\x85\x81\xcc"]
    assert r.ecus[0].resets == 1
    if not MICROPYTHON:
        import zlib
        assert f.crc_image == zlib.crc32(img)


def test_block_counter_wraps_ff_to_00():
    rec = Recorder()
    img = image(8 * 300)
    f, r, srv = flash(img, FlashConfig(BASE, key_fn=KEY, block_max=10, verify=VERIFY_NONE,
                                       functional_prep=False), recorder=rec)
    assert f.result == OK and f.blocks == 300
    # each block: FF `10 0A 36 BSC ...` (10 bytes: SID, counter, 8 data)
    bscs = [x[6][3] for x in rec.records
            if x[4] == "tester" and x[6][0] == 0x10 and x[6][1] == 0x0A and x[6][2] == 0x36]
    assert len(bscs) == 300
    assert bscs[0] == 0x01 and bscs[254] == 0xFF and bscs[255] == 0x00 and bscs[256] == 0x01


def test_resume_after_a_lost_response_resends_the_same_counter():
    lost = []

    def fault(frame):
        # lose the ECU's answer to the 3rd TransferData once
        if frame.sender == "ecu0" and frame.data[1] == 0x76 and frame.data[2] == 3 and not lost:
            lost.append(frame)
            return FAULT_DROP
        return None
    img = image(6000)
    f, r, srv = flash(img, FlashConfig(BASE, key_fn=KEY, functional_prep=False), fault=fault)
    assert f.result == OK and f.repeats == 1 and len(lost) == 1
    assert transfer_context(srv).machine.writes == 3    # the repeat was not written twice
    assert f.crc_readback == crc32(img)


def test_progress_reports_bytes_total_and_rate():
    seen = []
    img = image(10000)
    f, r, srv = flash(img, progress=lambda done, total, rate: seen.append((done, total, rate)))
    assert [s[0] for s in seen] == [2048 * i for i in range(1, 5)] + [10000]
    assert all(s[1] == 10000 for s in seen) and seen[-1][2] > 0
    assert len([1 for t, ev in r.events(f) if ev == EV_PROGRESS]) == 5


def test_failures_are_results():
    f, r, srv = flash(image(100), FlashConfig(BASE, key_fn=key_diagbridge1(b"wrong"),
                                              functional_prep=False))
    assert f.result == A_NEGATIVE_RESPONSE and f.nrc == 0x35 and f.failed_step == ST_KEY
    # checksum routine verification, and a mismatch
    img = image(3000)
    f, r, srv = flash(img, FlashConfig(BASE, key_fn=KEY, verify=VERIFY_ROUTINE))
    assert f.result == OK and f.checksum == crc16_ccitt(img, 0, 3000) and f.verified
    hit = []

    def fault(frame):
        # a gateway in between flips a byte of the first block (CRC intact)
        if frame.sender == "tester" and frame.data[0] & 0xF0 == 0x10 and frame.data[2] == 0x36:
            hit.append(0)
        elif frame.sender == "tester" and frame.data[0] == 0x21 and len(hit) == 1:
            hit.append(1)
            frame.data = frame.data[0:1] + bytes((frame.data[1] ^ 0xFF,)) + frame.data[2:]
        return None
    f, r, srv = flash(img, FlashConfig(BASE, key_fn=KEY, verify=VERIFY_ROUTINE), fault=fault)
    assert f.result == A_VERIFY_FAILED and f.failed_step == ST_CHECKSUM
    assert raises(ConfigError, FlashConfig, BASE, None)           # level 3 without a key_fn
    assert raises(ConfigError, FlashConfig, BASE, KEY, 0, 0, 0, 2, 3, 2)


def test_one_mib_download_near_the_physical_limit():
    size = 0x4000 if MICROPYTHON else 0x100000
    img = image(size)
    f, r, srv = flash(img, FlashConfig(BASE, key_fn=KEY, verify=VERIFY_UPLOAD,
                                       functional_prep=False))
    assert f.result == OK and f.done_bytes == size and f.verified
    assert f.crc_image == f.crc_readback == crc32(img)
    prog = [t for t, ev in r.events(f) if ev == EV_PROGRESS]
    assert len(prog) == f.blocks == (size + 2047) // 2048
    first = prog[0]
    span_us = prog[-1] - first
    rate = (size - 2048) * 1000000 // span_us           # download payload rate
    # the engine's settings (BS 0, STmin 0, 2 KiB blocks, 1 ms/KiB programming):
    # every block also pays its FF, one FC, the answer and the programming
    assert PHYS_500K_BPS * 0.95 <= rate <= PHYS_500K_BPS, rate


class _CountingCrc32(Crc32):
    made = 0

    def __init__(self):
        _CountingCrc32.made += 1
        super().__init__()


def test_injected_crc_functions_are_used():
    # a runner may pass faster CRCs (the CPython facades pass zlib/binascii ones)
    calls = []

    def crc16(data, off, count):
        calls.append(count)
        return crc16_ccitt(data, off, count)
    img = image(3000)
    _CountingCrc32.made = 0
    f = Flasher(img, FlashConfig(BASE, key_fn=KEY, verify=VERIFY_ROUTINE), crc32=_CountingCrc32,
                crc16=crc16)
    r = Rig([f], [engine_server()])
    f.start(r.k.now)
    r.tester.kick()
    r.run_until_done(f, EV_DONE, 2000000000)
    assert f.result == OK and f.verified
    assert _CountingCrc32.made == 2 and calls == [3000]
    assert f.crc_image == crc32(img)


def test_the_wire_names_of_the_flash_steps_are_the_flashers_steps():
    steps = [(n, getattr(F, n)) for n in dir(F) if n.startswith("ST_")]
    assert len(steps) == len(FLASH_STEP_NAMES) == F.ST_FAILED + 1
    for name, value in steps:
        assert FLASH_STEP_NAMES[value] == name[3:].lower(), name
    assert step_name(99) == "?" and step_name(-1) == "?"


def _lose_first_cf_of_the_first_readback_answer(seen):
    """A fault hook: drops the first consecutive frame of the ECU's answer to
    the first readback request (FF `1x xx 76 01`); seen collects (sender,
    first bytes, t_start_us) of every frame after it."""
    st = [False, False]             # answer's FF seen, its CF dropped

    def fault(frame):
        d = frame.data
        if st[1]:
            seen.append((frame.sender, bytes(d[0:3]), frame.t_start_us))
        elif frame.sender == "ecu0" and d[0] & 0xF0 == 0x10 and d[2] == 0x76 and d[3] == 1:
            st[0] = True
        elif st[0] and frame.sender == "ecu0" and d[0] == 0x21:
            st[1] = True
            return FAULT_DROP
        return None
    return fault


def test_a_readback_answer_broken_by_a_lost_frame_is_read_again_after_the_servers_n_bs():
    # The tester's receiver fails N_WRONG_SN at CF 22 (CF 21 was lost) and
    # sends no more flow control; the ECU sends the rest of its block (BS 8)
    # and, half duplex, waits N_Bs (1000 ms) for the next FC, ignoring
    # requests.  The flasher repeats `36 01` rx_retry_ms (1100 ms) after the
    # failure, once the ECU's transfer has ended: read again, verified.
    seen = []
    img = image(4096)
    cfg = FlashConfig(BASE, key_fn=KEY, functional_prep=False)
    assert cfg.rx_retry_ms == 1100
    f, r, srv = flash(img, cfg, fault=_lose_first_cf_of_the_first_readback_answer(seen))
    assert f.result == OK and f.verified and f.repeats == 1
    assert f.crc_readback == f.crc_image == crc32(img)
    # the failure is at the end of CF 22, the instant CF 23 starts (back to back)
    t_fail = [t for who, d, t in seen if who == "ecu0" and d[0] == 0x23][0]
    t_repeat = [t for who, d, t in seen if who == "tester" and d == b"\x02\x36\x01"][0]
    assert t_repeat - t_fail == 1100000
    # nothing from the tester in between: the ECU's rest of block, then silence
    between = [who for who, d, t in seen if t_fail <= t < t_repeat]
    assert between == ["ecu0"] * len(between) and len(between) == 6      # CF 23 .. 28


def test_repeating_at_once_after_a_broken_reception_runs_into_the_servers_n_bs():
    # rx_retry_ms=0 repeats at once: the half-duplex ECU is still waiting N_Bs
    # for a flow control and ignores the three repeats, each of which ends on
    # P2_client (150 ms) before N_Bs (1000 ms) does: A_TIMEOUT_P2 at readback.
    seen = []
    cfg = FlashConfig(BASE, key_fn=KEY, functional_prep=False, rx_retry_ms=0)
    f, r, srv = flash(image(4096), cfg, fault=_lose_first_cf_of_the_first_readback_answer(seen))
    assert f.result == F.A_TIMEOUT_P2 and f.failed_step == F.ST_READBACK and f.repeats == 3
    assert raises(ConfigError, lambda: FlashConfig(BASE, KEY, rx_retry_ms=-1))
    assert raises(ConfigError, lambda: FlashConfig(BASE, KEY, rx_retry_ms=True))


def test_the_engine_streams_each_block_after_one_flow_control():
    # the engine profile's "cantp": BS 0, STmin 0 -> one FC `30 00 00` per
    # 0x36 request, the CFs back to back; its 2 KiB blocks take 1 ms/KiB of
    # programming (2000 us between the last CF and the 0x76, no 0x78)
    from diagbridge.ecu import Ecu
    from diagbridge.uds.server.profile import Profile
    from diagbridge.uds.server.profiles import engine
    rec = Recorder()
    img = image(3 * 2048)
    f, r, srv = flash(img, FlashConfig(BASE, key_fn=KEY, functional_prep=False,
                                       verify=VERIFY_NONE), recorder=rec)
    assert f.result == OK and f.blocks == 3 and f.block_len == 2048
    ecu = [x for x in rec.records if x[4] == "ecu0"]
    i = [k for k in range(len(rec.records)) if rec.records[k][4] == "tester"
         and rec.records[k][6][0] == 0x18 and rec.records[k][6][2] == 0x36]
    assert len(i) == 3                                  # FF 18 02 36 BSC: 2050 bytes
    fcs = [bytes(x[6][0:3]) for x in ecu if x[6][0] & 0xF0 == 0x30]
    assert fcs == [b"\x30\x00\x00"] * (2 + 3)             # erase, 34, the blocks
    assert [x for x in ecu if x[6][1:4] == b"\x7f\x36\x78"] == []
    last_cf = [x for x in rec.records if x[4] == "tester" and x[6][0] & 0xF0 == 0x20][-1]
    answer = [x for x in ecu if x[6][1] == 0x76][-1]
    # the answer starts when the programming ends: 2 KiB x 1000 us/KiB
    from diagbridge.sim.canframe import frame_time_ns
    slot_us = -(-frame_time_ns(500000, 2000000, 0x7E8, False, False, False, answer[6], 8)
                // 1000)
    assert answer[0] - slot_us - last_cf[0] == 2000
    # the profile section: defaults, checks, and the Ecu's channel takes it
    plain = {"addresses": {"rx_id": 0x7E0, "tx_id": 0x7E8}}
    assert Profile({}).cantp == {"block_size": 8, "stmin_us": 0}
    assert Ecu(engine.make()).cfg.block_size == 0 and Ecu(plain).cfg.block_size == 8
    for bad, field in (({"block_size": 256}, "cantp.block_size"),
                       ({"stmin_us": 150}, "cantp.stmin_us"),
                       ({"stmin_us": -1}, "cantp.stmin_us")):
        try:
            Profile({"cantp": bad})
            raise AssertionError(bad)
        except ConfigError as e:
            assert str(e) == field, (bad, str(e))
