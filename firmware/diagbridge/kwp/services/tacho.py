# The tachograph vehicle unit's calibration services (EU Annex IB / IC App. 8;
# tacho-digest 1-4): the services whose rules differ from ISO 14230-3, on the
# UDS server's machinery (NVM, response pending).  A profile names this module
# with "session"; kwp/profiles/tacho_vu.py is the example.
#
#   27 7D            requestSeed: 67 7D 00 00 in CALIBRATION mode (CPR_034),
#                    67 7D 00 01 with a valid workshop card (CPR_035), else 22
#   27 7E K1..Km     sendKey, m = 4..8 ASCII PIN characters (else 13; without a
#                    positive requestSeed first 22): 7F 27 78 while the
#                    workshop card checks the PIN, then 67 7E (CALIBRATION
#                    mode), 35 wrong PIN (tries left), 36 card blocked, 10 the
#                    card did not answer within the five minutes of CPR_037
#   22 RH RL         one RDI per request (else 13); not in the annex: 31
#   2E RH RL d..     only in 0x85 (22), RDI known and writable (31), length
#                    (13), CALIBRATION mode (22, CPR_056), value in range (31);
#                    the value goes to NVM before RAM
#   2F F9 60 IOCP [CS]  only in 0x87 (22); IOI / IOCP / controlState (31);
#                    controlState with 03 only (13); CALIBRATION mode, or
#                    Annex IC CONTROL mode for states 00 / 02 (22)
#   31 01|03 01 00   Annex IC TimeAdjustment: in 0x85 (and 0x87 when
#                    "rc_in_ecuas"), CALIBRATION mode and an authenticated GNSS
#                    position (22); results 71 03 01 00 78 00 while running,
#                    then 61 01 (or 61 10 when GNSS was lost); Annex IB: 11
# A service outside its sessions answers the profile's "session_nrc" (22).
# StopCommunication (only in 0x81) and AccessTimingParameter (never) are the
# link's: tacho/vu.bind() sets its configuration.  Profile section:
#   tacho: {"annex": "1B" | "1C", "card": "workshop" | "gen1_workshop" |
#           "control" | "company" | "none", "pin": "1234", "card_tries": 5,
#           "verify_ms": 600, "vu_attempts": 5, "pending_cap_ms": 300000,
#           "gnss": True, "adjust_ms": 2000, "session_nrc": 0x22,
#           "rc_in_ecuas": False, "records": {rdi: value}}
from diagbridge.clock import ticks_add, ticks_diff, due
from diagbridge.errors import ConfigError, UsageError
from diagbridge.uds.nrc import NRC_IMLOIF, NRC_SFNS, NRC_CNC, NRC_IK, NRC_ENOA, NRC_GR, \
    NRC_ROOR, NRC_SNS
from diagbridge.uds.server.service import ServiceSpec, RSP_PENDING
from diagbridge.tacho import rdi as R

SID_SA = 0x27
SID_RDBI = 0x22
SID_WDBI = 0x2E
SID_IOCBI = 0x2F
SID_RC = 0x31
REQUEST_SEED = 0x7D
SEND_KEY = 0x7E
SD = 0x81
ECUPS = 0x85
ECUAS = 0x87
IOI_CIO = 0xF960
RID_TA = 0x0100
IO_DISABLED = 0
IO_SPEED_IN = 1
IO_SPEED_OUT = 2
IO_RTC_OUT = 3
MODE_OPERATIONAL = "operational"
MODE_CALIBRATION = "calibration"
MODE_CONTROL = "control"
MODE_COMPANY = "company"
_CAP_MARGIN_US = 1000
_STEP_US = 100000
CARDS = ("workshop", "gen1_workshop", "control", "company", "none")


def nvm_key(rdi):
    return "tacho.%04X" % rdi


class TachoVu:
    """The VU's state: records, workshop card model, mode, I/O line, routine."""

    def __init__(self, d):
        if not isinstance(d, dict):
            raise ConfigError("tacho")
        self.annex = d.get("annex", "1C")
        if self.annex not in ("1B", "1C"):
            raise ConfigError("tacho.annex")
        self.card = d.get("card", "workshop")
        if self.card not in CARDS:
            raise ConfigError("tacho.card")
        pin = d.get("pin", "1234")
        if isinstance(pin, str):
            pin = pin.encode()
        if not 4 <= len(pin) <= 8:
            raise ConfigError("tacho.pin")
        self.card_pin = bytes(pin) + b"\xff" * (8 - len(pin))    # the card's CHV
        self.card_tries = _cfg(d, "card_tries", 5, 0, 15)          # TCS_75: 5
        self.verify_us = _cfg(d, "verify_ms", 600, 0, 3600000) * 1000
        self.vu_attempts = _cfg(d, "vu_attempts", 5, 1, 255)      # UIA_214
        self.cap_us = _cfg(d, "pending_cap_ms", 300000, 1000, 300000) * 1000
        self.gnss = d.get("gnss", True) is True
        self.adjust_us = _cfg(d, "adjust_ms", 2000, 0, 600000) * 1000
        self.session_nrc = _cfg(d, "session_nrc", NRC_CNC, 0x10, 0xFF)
        self.rc_in_ecuas = d.get("rc_in_ecuas", False) is True
        self.ids = R.ids(self.annex)
        self.values = {}
        recs = d.get("records", {})
        for rdi in self.ids:
            v = recs.get(rdi)
            self.values[rdi] = bytearray(R.encode(rdi, v) if v is not None
                                         else b"\x00" * R.get(rdi).length)
        self.pin_ok = False
        self.vu_failed = 0
        self.seed_given = False
        self.key = bytearray(8)
        self.verify_at = None
        self.elapsed_us = 0
        self.io = IO_DISABLED
        self.io_changes = 0
        self.adjust_at = None
        self.adjust_started = False
        self.adjustments = 0
        self.link_cfg = None        # tacho/vu.bind(): the link's EcuConfig

    def mode(self):
        """The operating mode (digest 1.3) from the card and the PIN."""
        if self.card == "workshop" and self.pin_ok:
            return MODE_CALIBRATION
        if self.card == "gen1_workshop" and self.annex == "1B" and self.pin_ok:
            return MODE_CALIBRATION
        if self.card == "control":
            return MODE_CONTROL
        if self.card == "company":
            return MODE_COMPANY
        return MODE_OPERATIONAL

    def card_valid(self):
        """A workshop card the VU accepts (a Gen1 card is non-valid in a Gen2
        VU, Annex IC req. 10; UIA_214 after too many failed PINs)."""
        if self.vu_failed >= self.vu_attempts:
            return False
        return self.card == "workshop" or (self.card == "gen1_workshop" and self.annex == "1B")

    def insert(self, card):
        """A card (CARDS) in the slot; any change leaves CALIBRATION mode."""
        if card not in CARDS:
            raise UsageError("card")
        self.card = card
        self.pin_ok = False
        self.seed_given = False
        self.io = IO_DISABLED       # CPR_059: the line resets with the mode


def _cfg(d, name, default, lo, hi):
    v = d.get(name, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("tacho." + name)
    return v


def _build(srv):
    st = TachoVu(srv.profile.raw.get("tacho", {}))
    nvm = srv.nvm
    if nvm is not None:
        for rdi in st.ids:
            b = nvm.get(nvm_key(rdi))
            if b is not None and len(b) == len(st.values[rdi]):
                st.values[rdi][:] = b
    srv.tacho = st


def _on_session(srv, now, old, new):
    st = srv.tacho
    if new != ECUAS:
        st.io = IO_DISABLED         # CPR_059 / CPR_012
    if st.link_cfg is not None:
        st.link_cfg.stop_allowed = new == SD


# ---- 0x27 SecurityAccess --------------------------------------------------------------
def _sa(srv, now, req, n, functional):
    st = srv.tacho
    at = req[1]
    rsp = srv.rsp
    if at == REQUEST_SEED:
        if n != 2:
            return -NRC_IMLOIF
        rsp[0] = SID_SA + 0x40
        rsp[1] = at
        if st.mode() == MODE_CALIBRATION:
            rsp[2] = 0
            rsp[3] = 0
            return 4
        if not st.card_valid():
            return -NRC_CNC
        st.seed_given = True
        rsp[2] = 0
        rsp[3] = 1
        return 4
    if at != SEND_KEY:
        return -NRC_SFNS
    m = n - 2
    if not 4 <= m <= 8:
        return -NRC_IMLOIF
    if not st.seed_given or not st.card_valid():
        return -NRC_CNC
    st.seed_given = False
    for i in range(8):
        st.key[i] = req[2 + i] if i < m else 0xFF      # TCS_72: FF padded to 8
    st.verify_at = now              # the card's answer: verify_us of elapsed time later
    st.elapsed_us = 0
    return RSP_PENDING


def _sa_resume(srv, now):
    st = srv.tacho
    # five minutes exceed half the tick period: the time is summed step by step
    st.elapsed_us += ticks_diff(now, st.verify_at)
    st.verify_at = now
    if st.elapsed_us < st.verify_us:
        if st.elapsed_us >= st.cap_us - _CAP_MARGIN_US:
            st.verify_at = None             # the card never answered: CPR_037's cap
            return -NRC_GR
        return RSP_PENDING
    st.verify_at = None
    if st.card_tries == 0:
        return -NRC_ENOA                    # 6983: blocked
    diff = 0
    for i in range(8):
        diff |= st.key[i] ^ st.card_pin[i]
    if diff:
        st.card_tries -= 1                  # TCS_76
        st.vu_failed += 1
        return -(NRC_ENOA if st.card_tries == 0 else NRC_IK)
    st.card_tries = 5                       # TCS_75
    st.vu_failed = 0
    st.pin_ok = True
    rsp = srv.rsp
    rsp[0] = SID_SA + 0x40
    rsp[1] = SEND_KEY
    return 2


def _deadline(srv):
    st = getattr(srv, "tacho", None)
    if st is None or st.verify_at is None:
        return None
    left = min(st.verify_us, st.cap_us - _CAP_MARGIN_US) - st.elapsed_us
    return ticks_add(st.verify_at, max(0, min(left, _STEP_US)))


# ---- 0x22 / 0x2E -----------------------------------------------------------------------
def _rdbi(srv, now, req, n, functional):
    st = srv.tacho
    if n != 3:
        return -NRC_IMLOIF
    rdi = (req[1] << 8) | req[2]
    v = st.values.get(rdi)
    if v is None:
        return -NRC_ROOR
    rsp = srv.rsp
    rsp[0] = SID_RDBI + 0x40
    rsp[1] = req[1]
    rsp[2] = req[2]
    for i in range(len(v)):
        rsp[3 + i] = v[i]
    return 3 + len(v)


def _valid(rdi, data):
    """The dataRecord is a value of the RDI's valid range (Table 38)."""
    try:
        return R.encode(rdi, R.decode(rdi, data)) == bytes(data) or \
            R.get(rdi).kind in ("timedate", "date3")
    except (UsageError, ValueError):
        return False


def _wdbi(srv, now, req, n, functional):
    st = srv.tacho
    if srv.session != ECUPS:
        return -st.session_nrc
    if n < 3:
        return -NRC_IMLOIF
    rdi = (req[1] << 8) | req[2]
    v = st.values.get(rdi)
    if v is None or R.get(rdi).access(st.annex) != "rw":
        return -NRC_ROOR
    if n - 3 != len(v):
        return -NRC_IMLOIF
    if st.mode() != MODE_CALIBRATION:
        return -NRC_CNC
    data = bytes(req[3:n])
    if not _valid(rdi, data):
        return -NRC_ROOR
    if srv.nvm is not None:
        try:
            srv.nvm.put(nvm_key(rdi), data)     # NVM first: RAM never runs ahead
        except OSError:
            return -NRC_GR
    v[:] = data
    rsp = srv.rsp
    rsp[0] = SID_WDBI + 0x40
    rsp[1] = req[1]
    rsp[2] = req[2]
    return 3


# ---- 0x2F calibration I/O line -----------------------------------------------------------
def _iocbi(srv, now, req, n, functional):
    st = srv.tacho
    if srv.session != ECUAS:
        return -st.session_nrc
    if n < 4:
        return -NRC_IMLOIF
    if ((req[1] << 8) | req[2]) != IOI_CIO:
        return -NRC_ROOR
    iocp = req[3]
    if iocp not in (0x00, 0x01, 0x03):
        return -NRC_ROOR
    if iocp == 0x03:
        if n != 5:
            return -NRC_IMLOIF
        cs = req[4]
        if cs > IO_RTC_OUT:
            return -NRC_ROOR
    elif n != 4:
        return -NRC_IMLOIF
    else:
        cs = IO_DISABLED
    mode = st.mode()
    if mode != MODE_CALIBRATION:
        if not (st.annex == "1C" and mode == MODE_CONTROL):
            return -NRC_CNC
        if cs not in (IO_DISABLED, IO_SPEED_OUT):
            return -NRC_CNC                 # CPR_058
    st.io = cs
    st.io_changes += 1
    rsp = srv.rsp
    for i in range(n):
        rsp[i] = req[i]
    rsp[0] = SID_IOCBI + 0x40
    return n


# ---- 0x31 TimeAdjustment (Annex IC) -----------------------------------------------------
def _rc(srv, now, req, n, functional):
    st = srv.tacho
    if st.annex != "1C":
        return -NRC_SNS
    if not (srv.session == ECUPS or (st.rc_in_ecuas and srv.session == ECUAS)):
        return -st.session_nrc
    if n != 4:
        return -NRC_IMLOIF
    rt = req[1]
    if rt != 0x01 and rt != 0x03:
        return -NRC_SFNS
    if ((req[2] << 8) | req[3]) != RID_TA:
        return -NRC_ROOR
    if st.mode() != MODE_CALIBRATION:
        return -NRC_CNC
    rsp = srv.rsp
    rsp[0] = SID_RC + 0x40
    rsp[1] = rt
    rsp[2] = req[2]
    rsp[3] = req[3]
    if rt == 0x01:
        if not st.gnss:
            return -NRC_CNC                 # no authenticated position now
        st.adjust_at = ticks_add(now, st.adjust_us)
        st.adjust_started = True
        return 4
    if not st.adjust_started:
        return -NRC_CNC                     # requestSequenceError
    if st.adjust_at is not None and not due(now, st.adjust_at):
        rsp[4] = 0x78                       # RoutineExecutionOngoing
        rsp[5] = 0x00
        return 6
    rsp[4] = 0x61                           # NormalExitWithResultAvailable
    if st.adjust_at is not None:
        st.adjust_at = None
        if st.gnss:
            st.adjustments += 1
    rsp[5] = 0x01 if st.gnss else 0x10
    return 6


SPECS = (
    ServiceSpec(SID_SA, _sa, min_len=2, resume=_sa_resume, deadline=_deadline,
                on_build=_build, on_session=_on_session),
    ServiceSpec(SID_RDBI, _rdbi, min_len=1),
    ServiceSpec(SID_WDBI, _wdbi, min_len=1),
    ServiceSpec(SID_IOCBI, _iocbi, min_len=1),
    ServiceSpec(SID_RC, _rc, min_len=1),
)
