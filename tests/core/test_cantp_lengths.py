# Message lengths 1..4095 and beyond (FF_DL escape), classic and CAN FD, with
# and without an address byte: every message arrives intact.
from diagbridge.cantp import (TpConfig, Address, ADDR_EXTENDED_11, ADDR_MIXED_29,
                              EV_TX_DONE, EV_RX_DONE)
from cantp_support import Link, pair, msg


def _lengths():
    ns = list(range(1, 300))
    ns += list(range(300, 4095, 97))
    return ns + [4094, 4095, 4096, 4097, 5000]


def _sweep(cfg, ns, addr_a=None, addr_b=None):
    link = Link(*pair(cfg, cfg, addr_a, addr_b))
    for n in ns:
        m = msg(n, n)
        link.evs = []
        link.request(0, m)
        link.run()
        got = [(e[1], e[2], e[4]) for e in link.evs if e[2] in (EV_TX_DONE, EV_RX_DONE)]
        assert sorted(got) == [(0, EV_TX_DONE, n), (1, EV_RX_DONE, n)], n
        assert link.last(1, EV_RX_DONE)[5] == bytes(m), n


def test_classic_lengths():
    _sweep(TpConfig(max_pdu=5000), _lengths())


def test_classic_optimised_lengths():
    _sweep(TpConfig(max_pdu=5000, padding=None, block_size=3), list(range(1, 120)) + [4095, 4096])


def test_fd_lengths():
    for dl in (12, 16, 20, 24, 32, 48, 64):
        _sweep(TpConfig(max_pdu=5000, fd=True, tx_dl=dl), list(range(1, 140)) + [4095, 4096])
    _sweep(TpConfig(max_pdu=5000, fd=True, tx_dl=64, padding=None), list(range(1, 140)) + [4096])


def test_fd_large_escape():
    _sweep(TpConfig(max_pdu=70000, fd=True, tx_dl=64, block_size=0), [65535, 70000])


def test_extended_addressing_lengths():
    a = Address(ADDR_EXTENDED_11, tx_id=0x6F1, rx_id=0x610, ta=0x10, sa=0xF1)
    b = Address(ADDR_EXTENDED_11, tx_id=0x610, rx_id=0x6F1, ta=0xF1, sa=0x10)
    _sweep(TpConfig(max_pdu=5000), list(range(1, 100)) + [4095, 4096], a, b)
    _sweep(TpConfig(max_pdu=5000, fd=True, tx_dl=64), list(range(1, 140)) + [4096], a, b)


def test_mixed_29_lengths():
    a = Address(ADDR_MIXED_29, ta=0x10, sa=0xF1, ae=0x42)
    b = Address(ADDR_MIXED_29, ta=0xF1, sa=0x10, ae=0x42)
    _sweep(TpConfig(max_pdu=5000, padding=None), list(range(1, 100)) + [4096], a, b)
