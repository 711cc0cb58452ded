# The tachograph VU's K-Line side (tacho-digest 2): the link configuration of
# a KwpEcu running kwp/profiles/tacho_vu.vu(), and bind(), which hands the
# link's configuration to kwp/services/tacho.py so StopCommunication is
# granted only in the StandardDiagnosticSession (Table 1).
#
#   ecu = KwpEcu(tacho_vu.make("1C"), link_cfg=vu.link_config(), nvm=nvm)
#   vu.bind(ecu)                   -> ecu.srv.tacho (kwp/services/tacho.TachoVu)
from diagbridge.kline.config import EcuConfig

VU_ADDRESS = 0xEE


def link_config(**kw):
    """Address 0xEE, fast init only (CPR_011), no AccessTimingParameter (not in
    Table 1: 7F 83 10), answers 25 ms after a request (P2min)."""
    kw.setdefault("address", VU_ADDRESS)
    kw.setdefault("five_baud", False)
    kw.setdefault("atp_allowed", False)
    kw.setdefault("p2_ecu_us", 25000)
    return EcuConfig(**kw)


def bind(ecu):
    """Connect a KwpEcu's link configuration to its VU state; the VU state."""
    st = ecu.srv.tacho
    st.link_cfg = ecu.link.cfg
    st.link_cfg.stop_allowed = ecu.srv.session == 0x81
    return st
