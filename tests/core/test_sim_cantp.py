# CAN-TP over the virtual CAN bus: the core's timers against real wire time.
from diagbridge.cantp import (Channel, TpConfig, Address, ADDR_NORMAL_11, ADDR_NORMAL_FIXED,
                              EV_TX_DONE, EV_TX_FAILED, EV_RX_DONE, EV_RX_FF, TA_FUNCTIONAL)
from diagbridge.codes import N_OK, N_TIMEOUT_BS, N_TIMEOUT_CR, N_WRONG_SN
from diagbridge.sim.kernel import Kernel
from diagbridge.sim.recorder import Recorder
from diagbridge.sim.canbus import CanBus, FAULT_DROP
from diagbridge.sim.canframe import frame_time_ns
from diagbridge.sim.cantp_node import CanTpNode


def _pair(cfg_t=None, cfg_e=None, rec=None, bitrate=500000, fmt=ADDR_NORMAL_11):
    k = Kernel()
    bus = CanBus(k, "can0", bitrate=bitrate, recorder=rec)
    if fmt == ADDR_NORMAL_11:
        at = Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF)
        ae = Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0, func_rx_id=0x7DF)
    else:
        at = Address(ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1, func_ta=0x33)
        ae = Address(ADDR_NORMAL_FIXED, ta=0xF1, sa=0x10)
    log = []

    def on_event(name):
        def f(now, ev, ch):
            data = bytes(ch.payload[:ch.length]) if ev == EV_RX_DONE else None
            log.append((k.elapsed_us, name, ev, ch.result, data))
        return f
    tester = CanTpNode(k, bus.attach("tester"), Channel(cfg_t or TpConfig(), at), on_event("tester"))
    ecu = CanTpNode(k, bus.attach("ecu"), Channel(cfg_e or TpConfig(), ae), on_event("ecu"))
    return k, bus, tester, ecu, log


def _us(data, can_id=0x7E0, bitrate=500000):
    return -(-frame_time_ns(bitrate, 2000000, can_id, False, False, False, data, len(data)) // 1000)


def test_single_frame_request_and_answer_wire_time():
    k, bus, tester, ecu, log = _pair()
    tester.send(tester.tp, b"\x22\xf1\x90")
    k.run_until_idle()
    sf = b"\x03\x22\xf1\x90" + b"\xcc" * 4
    t_sf = _us(sf)
    assert log == [(t_sf, "tester", EV_TX_DONE, N_OK, None),
                   (t_sf, "ecu", EV_RX_DONE, N_OK, b"\x22\xf1\x90")]


def test_multi_frame_timing_is_exact_with_stmin():
    rec = Recorder()
    k, bus, tester, ecu, log = _pair(cfg_e=TpConfig(block_size=0, stmin_us=5000), rec=rec)
    msg = bytes(range(20))           # FF + 2 CFs
    tester.send(tester.tp, msg)
    k.run_until_idle()
    frames = rec.records
    assert [r[4] for r in frames] == ["tester", "ecu", "tester", "tester"]
    ff_end, fc_end, cf1_end, cf2_end = [r[0] for r in frames]
    # FC right after the FF (N_Br = 0); CF1 right after the FC; CF2 STmin after CF1.
    assert fc_end == ff_end + _us(frames[1][6], 0x7E8)
    assert cf1_end == fc_end + _us(frames[2][6])
    assert cf2_end == cf1_end + 5000 + _us(frames[3][6])
    assert (cf2_end, "ecu", EV_RX_DONE, N_OK, msg) in log
    assert (cf2_end, "tester", EV_TX_DONE, N_OK, None) in log


def test_block_size_waits_for_flow_control_each_block():
    rec = Recorder()
    k, bus, tester, ecu, log = _pair(cfg_e=TpConfig(block_size=2, stmin_us=0), rec=rec)
    msg = bytes(6 + 7 * 6)            # FF + 6 CFs = 3 blocks of 2
    tester.send(tester.tp, msg)
    k.run_until_idle()
    order = "".join("T" if r[4] == "tester" else "E" for r in rec.records)
    assert order == "TE" + "TTE" * 2 + "TT"
    assert [e[2] for e in log if e[1] == "ecu"] == [EV_RX_FF, EV_RX_DONE]


def test_n_bs_fires_exactly_when_nobody_answers():
    k = Kernel()
    bus = CanBus(k, "can0", bitrate=500000)
    at = Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8)
    log = []
    node = CanTpNode(k, bus.attach("tester"), Channel(TpConfig(n_bs_ms=1000), at),
                     lambda now, ev, ch: log.append((k.elapsed_us, ev, ch.result)))
    node.send(node.tp, bytes(100))
    k.run_until_idle()
    ff_end = _us(b"\x10\x64" + bytes(6))
    assert log == [(ff_end + 1000000, EV_TX_FAILED, N_TIMEOUT_BS)]


def test_n_as_fires_when_the_controller_is_bus_off():
    k = Kernel()
    bus = CanBus(k, "can0", bitrate=500000)
    port = bus.attach("tester")
    at = Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8)
    log = []
    node = CanTpNode(k, port, Channel(TpConfig(n_as_ms=70), at),
                     lambda now, ev, ch: log.append((k.elapsed_us, ev, ch.result)))
    port.set_bus_off()
    node.send(node.tp, b"\x3e\x00")
    k.run_until_idle()
    # A refused frame is a failed confirmation: reported at once, not after N_As.
    assert len(log) == 1 and log[0][1] == EV_TX_FAILED and log[0][0] == 0


def _drop_cfs_from(bus, first_sn_byte, only_one):
    lost = []

    def fault(frame):
        if frame.sender == "tester" and (frame.data[0] == first_sn_byte
                                         or (not only_one and lost and frame.data[0] & 0xF0 == 0x20)):
            lost.append(frame)
            return FAULT_DROP
        return None
    bus.fault = fault
    return lost


def test_lost_consecutive_frames_give_n_cr_at_its_exact_value():
    k, bus, tester, ecu, log = _pair(cfg_e=TpConfig(n_cr_ms=1000, block_size=0))
    lost = _drop_cfs_from(bus, 0x22, only_one=False)     # every CF from SN 2 on
    tester.send(tester.tp, bytes(30))
    k.run_until_idle()
    ecu_fail = [e for e in log if e[1] == "ecu" and e[2] != EV_RX_FF]
    cf1_end = lost[0].t_start_us      # CF2 started the instant CF1 ended (STmin 0)
    assert [(e[0], e[3]) for e in ecu_fail] == [(cf1_end + 1000000, N_TIMEOUT_CR)]


def test_one_lost_consecutive_frame_gives_wrong_sn_on_the_next():
    rec = Recorder()
    k, bus, tester, ecu, log = _pair(cfg_e=TpConfig(block_size=0), rec=rec)
    lost = _drop_cfs_from(bus, 0x22, only_one=True)
    tester.send(tester.tp, bytes(30))
    k.run_until_idle()
    ecu_fail = [e for e in log if e[1] == "ecu" and e[2] != EV_RX_FF]
    cf3_end = [r[0] for r in rec.records if r[6][0] == 0x23][0]
    assert len(lost) == 1
    assert [(e[0], e[3]) for e in ecu_fail] == [(cf3_end, N_WRONG_SN)]


def test_functional_request_reaches_every_ecu_on_29_bit_fixed():
    k, bus, tester, ecu, log = _pair(fmt=ADDR_NORMAL_FIXED)
    ecu2 = CanTpNode(k, bus.attach("ecu2"),
                     Channel(TpConfig(), Address(ADDR_NORMAL_FIXED, ta=0xF1, sa=0x11, func_ta=0x33)),
                     lambda now, ev, ch: log.append((k.elapsed_us, "ecu2", ev, ch.result,
                                                     bytes(ch.payload[:ch.length]))))
    # ecu (sa 0x10) has no functional address configured: only ecu2 listens to 0x33.
    tester.send(tester.tp, b"\x3e\x80", ta_type=TA_FUNCTIONAL)
    k.run_until_idle()
    got = [e for e in log if e[2] == EV_RX_DONE]
    assert [(e[1], e[4]) for e in got] == [("ecu2", b"\x3e\x80")]
    assert bus.frames == 1


def test_throughput_against_the_physical_limit():
    # 4095 bytes, BS 0, STmin 0 at 500 kbit/s: the bus is busy all the time but
    # for the FC turnaround, so the transfer takes exactly the sum of its frames.
    rec = Recorder()
    k, bus, tester, ecu, log = _pair(cfg_e=TpConfig(block_size=0, stmin_us=0), rec=rec)
    msg = bytes(i & 0xFF for i in range(4095))
    tester.send(tester.tp, msg)
    k.run_until_idle()
    total = 0
    for r in rec.records:
        total += _us(r[6], r[5])
    assert len(rec.records) == 1 + 1 + 585
    assert log[-1][2] == EV_RX_DONE and log[-1][4] == msg and k.elapsed_us == total
    # about 30 KB/s of payload at 500 kbit/s classical CAN (peer-baseline.md)
    assert 28000 < 4095 * 1000000 // k.elapsed_us < 34000
