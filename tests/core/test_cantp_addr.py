# Addressing formats: CAN ids, address bytes, receive filters (byte-exact).
from diagbridge.errors import ConfigError, UsageError
from diagbridge.cantp import (Channel, TpConfig, Address, ADDR_NORMAL_11, ADDR_NORMAL_29,
                              ADDR_NORMAL_FIXED, ADDR_EXTENDED_11, ADDR_EXTENDED_29,
                              ADDR_MIXED_11, ADDR_MIXED_29, TA_PHYSICAL, TA_FUNCTIONAL,
                              FLAG_EXT, EV_RX_DONE, EV_RX_FF)
from cantp_support import T0, pop, hexs, events, msg, drain
from support import raises

RDBI = b"\x22\xF1\x90"


def _sf(addr, ta_type=TA_PHYSICAL, cfg=None):
    ch = Channel(cfg or TpConfig(), addr)
    ch.request(T0, RDBI, 3, ta_type)
    return pop(ch)


def test_normal_11():
    f = _sf(Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF))
    assert f[:3] == (hexs("03 22 F1 90 CC CC CC CC"), 0x7E0, 0)
    f = _sf(Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF), TA_FUNCTIONAL)
    assert f[:3] == (hexs("03 22 F1 90 CC CC CC CC"), 0x7DF, 0)


def test_normal_29():
    f = _sf(Address(ADDR_NORMAL_29, tx_id=0x18DA10F1, rx_id=0x18DAF110))
    assert f[:3] == (hexs("03 22 F1 90 CC CC CC CC"), 0x18DA10F1, FLAG_EXT)


def test_normal_fixed_ids():
    a = Address(ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1, func_ta=0x33)
    assert a.tx_id == 0x18DA10F1 and a.ftx_id == 0x18DB33F1
    assert _sf(a)[:3] == (hexs("03 22 F1 90 CC CC CC CC"), 0x18DA10F1, FLAG_EXT)
    assert _sf(a, TA_FUNCTIONAL)[1] == 0x18DB33F1
    assert Address(ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1, priority=7).tx_id == 0x1CDA10F1
    assert Address(ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1, priority=0).tx_id == 0xDA10F1


def test_normal_fixed_filter():
    a = Address(ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1, func_ta=0x33)
    d = hexs("03 62 F1 90")
    assert a.match(0x18DAF110, FLAG_EXT, d, 4) == TA_PHYSICAL
    assert a.match(0x1CDAF110, FLAG_EXT, d, 4) == TA_PHYSICAL     # priority is not an address
    assert a.match(0x00DAF110, FLAG_EXT, d, 4) == TA_PHYSICAL
    assert a.match(0x18DAF111, FLAG_EXT, d, 4) == -1              # other source
    assert a.match(0x18DA10F1, FLAG_EXT, d, 4) == -1              # our own request
    assert a.match(0x18DAF110, 0, d, 4) == -1                     # 11-bit frame
    assert a.match(0x18DB3310, FLAG_EXT, d, 4) == TA_FUNCTIONAL
    # an ECU receives the tester's functional request 0x18DB33F1
    e = Address(ADDR_NORMAL_FIXED, ta=0xF1, sa=0x10, func_ta=0x33)
    assert e.tx_id == 0x18DAF110
    assert e.match(0x18DB33F1, FLAG_EXT, d, 4) == TA_FUNCTIONAL
    assert e.match(0x18DA10F1, FLAG_EXT, d, 4) == TA_PHYSICAL


def test_extended_11():
    a = Address(ADDR_EXTENDED_11, tx_id=0x6F1, rx_id=0x610, ta=0x10, sa=0xF1)
    assert _sf(a)[:3] == (hexs("10 03 22 F1 90 CC CC CC"), 0x6F1, 0)
    assert a.match(0x610, 0, hexs("F1 03 62 F1 90"), 5) == TA_PHYSICAL
    assert a.match(0x610, 0, hexs("F2 03 62 F1 90"), 5) == -1     # for another node
    assert a.match(0x611, 0, hexs("F1 03 62 F1 90"), 5) == -1
    assert a.match(0x610, 0, b"", 0) == -1


def test_extended_29_functional():
    a = Address(ADDR_EXTENDED_29, tx_id=0x18FF10F1, rx_id=0x18FFF110, ta=0x10, sa=0xF1,
                func_tx_id=0x18FF00F1, func_rx_id=0x18FF0010, func_ta=0xFE)
    assert _sf(a)[:3] == (hexs("10 03 22 F1 90 CC CC CC"), 0x18FF10F1, FLAG_EXT)
    assert _sf(a, TA_FUNCTIONAL)[:3] == (hexs("FE 03 22 F1 90 CC CC CC"), 0x18FF00F1, FLAG_EXT)
    assert a.match(0x18FF0010, FLAG_EXT, hexs("FE 02 3E 00"), 4) == TA_FUNCTIONAL
    assert a.match(0x18FF0010, FLAG_EXT, hexs("F1 02 3E 00"), 4) == -1


def test_mixed_11():
    a = Address(ADDR_MIXED_11, tx_id=0x7E0, rx_id=0x7E8, ae=0x55)
    assert _sf(a)[:3] == (hexs("55 03 22 F1 90 CC CC CC"), 0x7E0, 0)
    assert a.match(0x7E8, 0, hexs("55 03 62 F1 90"), 5) == TA_PHYSICAL
    assert a.match(0x7E8, 0, hexs("56 03 62 F1 90"), 5) == -1


def test_mixed_29():
    a = Address(ADDR_MIXED_29, ta=0x10, sa=0xF1, ae=0x55, func_ta=0x33)
    assert a.tx_id == 0x18CE10F1 and a.ftx_id == 0x18CD33F1
    assert _sf(a)[:3] == (hexs("55 03 22 F1 90 CC CC CC"), 0x18CE10F1, FLAG_EXT)
    assert _sf(a, TA_FUNCTIONAL)[:3] == (hexs("55 03 22 F1 90 CC CC CC"), 0x18CD33F1, FLAG_EXT)
    assert a.match(0x18CEF110, FLAG_EXT, hexs("55 03 62 F1 90"), 5) == TA_PHYSICAL
    assert a.match(0x18CEF110, FLAG_EXT, hexs("54 03 62 F1 90"), 5) == -1
    assert Address(ADDR_MIXED_29, ta=0x10, sa=0xF1, ae=0, priority=7).tx_id == 0x1CCE10F1


def test_segmented_with_address_byte():
    # extended addressing: every frame, the FC included, starts with the address
    a = Address(ADDR_EXTENDED_11, tx_id=0x6F1, rx_id=0x610, ta=0x10, sa=0xF1)
    b = Address(ADDR_EXTENDED_11, tx_id=0x610, rx_id=0x6F1, ta=0xF1, sa=0x10)
    ca, cb = Channel(TpConfig(), a), Channel(TpConfig(), b)
    m = msg(13)
    ca.request(T0, m, 13)
    ff = drain(ca, T0)
    assert ff[0][0] == hexs("10 10 0D") + m[:5]
    cb.feed_frame(T0, 0x6F1, ff[0][0], 8, 0)
    fc = drain(cb, T0)
    assert fc[0][:2] == (hexs("F1 30 08 00 CC CC CC CC"), 0x610)
    ca.feed_frame(T0, 0x610, fc[0][0], 8, 0)
    cfs = drain(ca, T0)
    assert [c[0] for c in cfs] == [hexs("10 21") + m[5:11], hexs("10 22") + m[11:13] + hexs("CC CC CC CC")]
    for c in cfs:
        cb.feed_frame(T0, 0x6F1, c[0], 8, 0)
    ev = events(cb)
    assert ev[0][0] == EV_RX_FF and ev[0][2] == 13
    assert ev[1][0] == EV_RX_DONE and ev[1][3] == bytes(m)


def test_flags_must_match_id_type():
    ch = Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8))
    assert not ch.feed_frame(T0, 0x7E8, hexs("02 50 01"), 3, FLAG_EXT)
    assert events(ch) == []
    assert ch.feed_frame(T0, 0x7E8, hexs("02 50 01"), 3, 0)
    assert events(ch)[0][3] == b"\x50\x01"


def test_functional_rules():
    cli = Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x7DF))
    assert raises(UsageError, cli.request, T0, msg(8), 8, TA_FUNCTIONAL)   # SF only
    phys_only = Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8))
    assert raises(UsageError, phys_only.request, T0, RDBI, 3, TA_FUNCTIONAL)
    ecu = Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0, func_rx_id=0x7DF))
    ecu.feed_frame(T0, 0x7DF, hexs("10 14 00 01 02 03 04 05"), 8)    # functional FF: ignored
    assert events(ecu) == [] and pop(ecu) is None and not ecu.rx_busy()
    ecu.feed_frame(T0, 0x7DF, hexs("02 3E 80 CC CC CC CC CC"), 8)
    assert ecu.poll() == EV_RX_DONE and ecu.ta_type == TA_FUNCTIONAL
    assert bytes(ecu.payload[:ecu.length]) == b"\x3E\x80"
    ecu.feed_frame(T0, 0x7DF, hexs("21 00 01 02 03 04 05 06"), 8)    # functional CF
    ecu.feed_frame(T0, 0x7DF, hexs("30 00 00 CC CC CC CC CC"), 8)    # functional FC
    assert events(ecu) == [] and pop(ecu) is None


def test_functional_sf_does_not_disturb_physical_reception():
    ecu = Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0, func_rx_id=0x7DF))
    m = msg(20)
    ecu.feed_frame(T0, 0x7E0, hexs("10 14") + m[:6], 8)
    drain(ecu, T0)
    ecu.feed_frame(T0, 0x7DF, hexs("02 3E 80"), 3)
    ecu.feed_frame(T0, 0x7E0, hexs("21") + m[6:13], 8)
    ecu.feed_frame(T0, 0x7E0, hexs("22") + m[13:20], 8)
    ev = events(ecu)
    assert [(e[0], e[2]) for e in ev] == [(EV_RX_FF, 20), (EV_RX_DONE, 2), (EV_RX_DONE, 20)]
    assert ev[2][3] == bytes(m)


def test_address_config_errors():
    def err(field, *a, **k):
        try:
            Address(*a, **k)
        except ConfigError as e:
            return e.args[0] == field
        return False
    assert err("fmt", 9, tx_id=1, rx_id=2)
    assert err("tx_id", ADDR_NORMAL_11, tx_id=0x800, rx_id=0x7E8)
    assert err("rx_id", ADDR_NORMAL_11, tx_id=0x7E0)
    assert err("rx_id", ADDR_NORMAL_29, tx_id=0x7E0, rx_id=0x20000000)
    assert err("func_tx_id", ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8, func_tx_id=0x1000)
    assert err("ta", ADDR_NORMAL_FIXED, sa=0xF1)
    assert err("sa", ADDR_NORMAL_FIXED, ta=0x10, sa=256)
    assert err("tx_id", ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1, tx_id=0x7E0)
    assert err("priority", ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1, priority=8)
    assert err("ae", ADDR_NORMAL_FIXED, ta=0x10, sa=0xF1, ae=1)
    assert err("ae", ADDR_MIXED_29, ta=0x10, sa=0xF1)
    assert err("ae", ADDR_MIXED_11, tx_id=0x7E0, rx_id=0x7E8)
    assert err("ta", ADDR_MIXED_11, tx_id=0x7E0, rx_id=0x7E8, ae=1, ta=2)
    assert err("sa", ADDR_EXTENDED_11, tx_id=0x7E0, rx_id=0x7E8, ta=1)
    assert err("func_ta", ADDR_EXTENDED_11, tx_id=0x7E0, rx_id=0x7E8, ta=1, sa=2,
               func_tx_id=0x7DF)
    assert err("ta", ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8, ta=1)
