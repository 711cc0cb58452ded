# Byte-exact frames from a channel: SF, FF, CF, FC; classic and CAN FD;
# padding and CAN frame data optimisation; FF_DL escape; SN wrap.
from diagbridge.cantp import (Channel, TpConfig, Address, ADDR_NORMAL_11,
                              ADDR_EXTENDED_11, FLAG_FD, FLAG_BRS, EV_TX_DONE)
from cantp_support import T0, pop, drain, hexs, msg, events, client_addr


def _frames(cfg, m, fc=None, addr=None):
    """All frames for message m; the peer answers every FC request with fc."""
    ch = Channel(cfg, addr or client_addr())
    ch.request(T0, m, len(m))
    out = []
    for _ in range(10000):
        got = drain(ch, T0)
        out += [f[0] for f in got]
        if not ch.tx_busy():
            break
        f = fc or hexs("30 00 00")
        ch.feed_frame(T0, 0x7E8, f, len(f))
    assert events(ch)[-1][0] == EV_TX_DONE
    return out, ch


def test_classic_padded():
    m = msg(19)
    out, _ = _frames(TpConfig(), m)
    assert out == [hexs("10 13") + m[0:6], hexs("21") + m[6:13],
                   hexs("22") + m[13:19] + hexs("CC")]
    out, _ = _frames(TpConfig(), msg(7))
    assert out == [hexs("07") + msg(7)]
    out, _ = _frames(TpConfig(), b"\x3E\x00")
    assert out == [hexs("02 3E 00 CC CC CC CC CC")]


def test_classic_optimised():
    cfg = TpConfig(padding=None)
    m = msg(19)
    out, _ = _frames(cfg, m)
    assert out == [hexs("10 13") + m[0:6], hexs("21") + m[6:13], hexs("22") + m[13:19]]
    assert _frames(cfg, b"\x3E\x00")[0] == [hexs("02 3E 00")]


def test_custom_padding_byte():
    assert _frames(TpConfig(padding=0x00), b"\x3E")[0] == [hexs("01 3E 00 00 00 00 00 00")]
    assert _frames(TpConfig(padding=0xAA), b"\x3E")[0] == [hexs("01 3E AA AA AA AA AA AA")]


def test_ff_dl_boundaries_classic():
    m = msg(4095)
    out, _ = _frames(TpConfig(), m)
    assert out[0] == hexs("1F FF") + m[0:6]
    assert len(out) == 1 + (4095 - 6 + 6) // 7
    m = msg(4096)
    out, _ = _frames(TpConfig(), m)
    assert out[0] == hexs("10 00 00 00 10 00") + m[0:2]       # escape: 32-bit FF_DL
    assert out[1] == hexs("21") + m[2:9]
    m = msg(5000)
    out, _ = _frames(TpConfig(), m)
    assert out[0] == hexs("10 00 00 00 13 88") + m[0:2]


def test_sn_wraps_after_15():
    m = msg(7 * 40)
    out, _ = _frames(TpConfig(), m)
    sns = [f[0] for f in out[1:]]
    assert sns[:17] == [0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B,
                        0x2C, 0x2D, 0x2E, 0x2F, 0x20, 0x21]
    assert sns[-1] == 0x20 + (len(sns) & 0x0F)


def test_fd_single_frames():
    cfg = TpConfig(fd=True, tx_dl=64)
    out, ch = _frames(cfg, msg(5))
    assert out == [hexs("05") + msg(5) + hexs("CC CC")]       # classic SF_DL up to 7
    assert ch.tx_flags == FLAG_FD | FLAG_BRS
    assert _frames(cfg, msg(7))[0] == [hexs("07") + msg(7)]
    assert _frames(cfg, msg(8))[0] == [hexs("00 08") + msg(8) + hexs("CC CC")]   # 10 -> 12
    assert _frames(cfg, msg(20))[0] == [hexs("00 14") + msg(20) + hexs("CC CC")]  # 22 -> 24
    assert _frames(cfg, msg(46))[0] == [hexs("00 2E") + msg(46)]                  # 48
    assert _frames(cfg, msg(47))[0] == [hexs("00 2F") + msg(47) + b"\xcc" * 15]  # 49 -> 64
    assert _frames(cfg, msg(62))[0] == [hexs("00 3E") + msg(62)]
    opt = TpConfig(fd=True, tx_dl=64, padding=None, brs=False)
    out, ch = _frames(opt, msg(5))
    assert out == [hexs("05") + msg(5)] and ch.tx_flags == FLAG_FD
    assert _frames(opt, msg(9))[0] == [hexs("00 09") + msg(9) + hexs("CC")]      # 11 -> 12


def test_fd_segmented():
    cfg = TpConfig(fd=True, tx_dl=64)
    m = msg(63)
    out, _ = _frames(cfg, m)
    assert out == [hexs("10 3F") + m[0:62], hexs("21") + m[62:63] + b"\xcc" * 6]
    out, _ = _frames(TpConfig(fd=True, tx_dl=64, padding=None), m)
    assert out[1] == hexs("21") + m[62:63]
    m = msg(200)
    out, _ = _frames(cfg, m)
    assert [len(f) for f in out] == [64, 64, 64, 16]          # 62 + 63 + 63 + 12
    assert out[3] == hexs("23") + m[188:200] + b"\xcc" * 3
    m = msg(5000)
    out, _ = _frames(cfg, m)
    assert out[0] == hexs("10 00 00 00 13 88") + m[0:58]
    assert out[1] == hexs("21") + m[58:121]


def test_fd_tx_dl_12():
    cfg = TpConfig(fd=True, tx_dl=12)
    assert _frames(cfg, msg(10))[0] == [hexs("00 0A") + msg(10)]
    m = msg(25)
    out, _ = _frames(cfg, m)
    assert out == [hexs("10 19") + m[0:10], hexs("21") + m[10:21],
                   hexs("22") + m[21:25] + hexs("CC CC CC")]


def test_fd_extended_addressing():
    cfg = TpConfig(fd=True, tx_dl=64)
    a = Address(ADDR_EXTENDED_11, tx_id=0x6F1, rx_id=0x610, ta=0x10, sa=0xF1)
    ch = Channel(cfg, a)
    ch.request(T0, msg(61), 61)
    assert pop(ch)[0] == hexs("10 00 3D") + msg(61)
    ch.confirm(T0, True, 0)
    m = msg(62)
    ch.request(T0, m, 62)
    assert pop(ch)[0] == hexs("10 10 3E") + m[0:61]            # 62 needs a FF here


def test_flow_control_frames():
    def fc(cfg):
        ch = Channel(cfg, Address(ADDR_NORMAL_11, tx_id=0x7E8, rx_id=0x7E0))
        ch.feed_frame(T0, 0x7E0, hexs("10 14 00 01 02 03 04 05"), 8)
        return pop(ch)
    assert fc(TpConfig())[:2] == (hexs("30 08 00 CC CC CC CC CC"), 0x7E8)
    assert fc(TpConfig(block_size=0, stmin_us=20000))[0] == hexs("30 00 14 CC CC CC CC CC")
    assert fc(TpConfig(block_size=4, stmin_us=500))[0] == hexs("30 04 F5 CC CC CC CC CC")
    assert fc(TpConfig(block_size=255, stmin_us=127000, padding=None))[0] == hexs("30 FF 7F")
    assert fc(TpConfig(max_pdu=19))[0] == hexs("32 08 00 CC CC CC CC CC")    # OVFLW
    assert fc(TpConfig(fd=True, tx_dl=64))[0] == hexs("30 08 00 CC CC CC CC CC")
