# securityAccess 0x27 as the tachograph's calibration protocol uses it (EU
# Annex IB App. 8 CPR_033-041, Tables 18-23; kline-digest 8): not a seed and
# key but a readiness flag and a PIN.  A profile names this module instead of
# "security".
#
#   27 7D            requestSeed -> 67 7D 00 00 in CALIBRATION mode (CPR_034),
#                    67 7D seed (non-zero) when ready for a PIN (CPR_035),
#                    7F 27 22 when not (no valid workshop card, CPR_036)
#   27 7E K1..Km     sendKey, m = 4..8 -> 7F 27 78 while the card checks the
#                    PIN (CPR_037, every P2* until done), then 67 7E (CALIBRATION
#                    mode: srv.level = 0x7D), 7F 27 35 wrong PIN, 36 attempts
#                    exceeded, 10 PIN right but the card's authentication
#                    failed; 7F 27 22 without a card (CPR_039)
# Other accessTypes: 0x12; a wrong length: the profile's length code (the
# tachograph's 0x13).  Profile section:
#   pin: {"pin": bytes (4-8), "seed": 0x1234 (non-zero), "attempts": 3,
#         "verify_ms": 1000 (card authentication time), "card": True}
# The application changes srv.kwp_pin.card (a valid workshop card inserted)
# and srv.kwp_pin.card_auth_ok (the card's mutual authentication result).
from diagbridge.clock import ticks_add, due
from diagbridge.errors import ConfigError
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_SFNS, NRC_CNC, NRC_IK, NRC_ENOA, NRC_GR
from diagbridge.uds.server.profile import to_bytes
from diagbridge.uds.server.service import ServiceSpec, RSP_PENDING
from diagbridge.kwp.sid import SID_SA

REQUEST_SEED = 0x7D
SEND_KEY = 0x7E
LEVEL_CALIBRATION = 0x7D


class PinState:
    def __init__(self, d):
        if not isinstance(d, dict):
            raise ConfigError("pin")
        self.pin = to_bytes(d.get("pin", b"\x01\x02\x03\x04"), "pin.pin")
        if not 4 <= len(self.pin) <= 8:
            raise ConfigError("pin.pin")
        self.seed = d.get("seed", 0x1234)
        if not isinstance(self.seed, int) or not 1 <= self.seed <= 0xFFFF:
            raise ConfigError("pin.seed")
        self.attempts = d.get("attempts", 3)
        if not isinstance(self.attempts, int) or not 1 <= self.attempts <= 255:
            raise ConfigError("pin.attempts")
        self.verify_us = d.get("verify_ms", 1000)
        if not isinstance(self.verify_us, int) or not 0 <= self.verify_us <= 300000:
            raise ConfigError("pin.verify_ms")
        self.verify_us *= 1000
        self.card = d.get("card", True) is True
        self.card_auth_ok = True
        self.failed = 0
        self.key = bytearray(8)
        self.key_len = 0
        self.verify_at = None


def _build(srv):
    srv.kwp_pin = PinState(srv.profile.raw.get("pin", {}))


def _sa(srv, now, req, n, functional):
    st = srv.kwp_pin
    at = req[1]
    rsp = srv.rsp
    if at == REQUEST_SEED:
        if n != 2:
            return -NRC_IMLOIF
        rsp[0] = SID_SA + 0x40
        rsp[1] = at
        if srv.level == LEVEL_CALIBRATION:
            rsp[2] = 0
            rsp[3] = 0
            return 4
        if not st.card:
            return -NRC_CNC
        rsp[2] = st.seed >> 8
        rsp[3] = st.seed & 0xFF
        return 4
    if at != SEND_KEY:
        return -NRC_SFNS
    m = n - 2
    if not 4 <= m <= 8:
        return -NRC_IMLOIF
    if not st.card:
        return -NRC_CNC
    if st.failed >= st.attempts:
        return -NRC_ENOA
    for i in range(m):
        st.key[i] = req[2 + i]
    st.key_len = m
    st.verify_at = ticks_add(now, st.verify_us)
    return RSP_PENDING


def _resume(srv, now):
    st = srv.kwp_pin
    if not due(now, st.verify_at):
        return RSP_PENDING
    st.verify_at = None
    pin = st.pin
    diff = 0 if st.key_len == len(pin) else 1
    for i in range(min(st.key_len, len(pin))):
        diff |= st.key[i] ^ pin[i]
    if diff:
        st.failed += 1
        return -(NRC_ENOA if st.failed >= st.attempts else NRC_IK)
    st.failed = 0
    if not st.card_auth_ok:
        return -NRC_GR
    srv.set_level(LEVEL_CALIBRATION)
    rsp = srv.rsp
    rsp[0] = SID_SA + 0x40
    rsp[1] = SEND_KEY
    return 2


def _deadline(srv):
    st = getattr(srv, "kwp_pin", None)
    return None if st is None else st.verify_at


SPECS = (
    ServiceSpec(SID_SA, _sa, min_len=2, resume=_resume, deadline=_deadline, on_build=_build),
)
