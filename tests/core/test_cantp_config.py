# TpConfig validation: a bad field raises ConfigError naming it.
from diagbridge.errors import ConfigError
from diagbridge.cantp import TpConfig


def _field(**kw):
    try:
        TpConfig(**kw)
    except ConfigError as e:
        return e.args[0]
    return None


def test_defaults_follow_the_standard():
    c = TpConfig()
    assert (c.n_as_ms, c.n_ar_ms, c.n_bs_ms, c.n_cr_ms) == (1000, 1000, 1000, 1000)
    assert c.padding == 0xCC and c.tx_dl == 8 and not c.fd and not c.full_duplex
    assert c.tx_stmin_override_us is None and c.tx_wft_max is None and c.max_pdu == 4095


def test_bad_fields_are_named():
    for name in ("n_as_ms", "n_ar_ms", "n_bs_ms", "n_br_ms", "n_cs_ms", "n_cr_ms"):
        assert _field(**{name: 0}) == name
        assert _field(**{name: 200001}) == name
        assert _field(**{name: True}) == name
    assert _field(block_size=256) == "block_size"
    assert _field(block_size=-1) == "block_size"
    for bad in (50, 1500, 128000, 950, -100):
        assert _field(stmin_us=bad) == "stmin_us"
    assert _field(tx_stmin_override_us=-1) == "tx_stmin_override_us"
    assert _field(tx_stmin_override_us=600000) == "tx_stmin_override_us"   # > n_cs_ms
    assert _field(wft_max=256) == "wft_max"
    assert _field(tx_wft_max=-1) == "tx_wft_max"
    assert _field(max_pdu=0) == "max_pdu"
    assert _field(max_pdu=0x3FFFFFFF) == "max_pdu"
    assert _field(padding=256) == "padding"
    assert _field(fd=1) == "fd"
    assert _field(tx_dl=12) == "tx_dl"              # needs fd
    assert _field(fd=True, tx_dl=10) == "tx_dl"     # not a CAN FD length
    assert _field(fd=True, tx_dl=7) == "tx_dl"
    assert _field(full_duplex=None) == "full_duplex"
    assert _field(tx_confirm=0) == "tx_confirm"
    assert _field(events=1) == "events"


def test_valid_values():
    for us in (0, 100, 500, 900, 1000, 127000):
        assert _field(stmin_us=us) is None
    for dl in (8, 12, 16, 20, 24, 32, 48, 64):
        assert _field(fd=True, tx_dl=dl) is None
    assert _field(padding=None) is None and _field(padding=0) is None
    assert _field(tx_stmin_override_us=250, tx_wft_max=0, wft_max=0) is None
