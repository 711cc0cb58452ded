# Layouts of the diagnostic and communication management services (§10):
# DiagnosticSessionControl 0x10, ECUReset 0x11, SecurityAccess 0x27,
# CommunicationControl 0x28, TesterPresent 0x3E, ControlDTCSetting 0x85.
# Pure functions, written once: build_*_request / parse_*_response for the
# client, write_*_response for the server.  build_* return the length
# written into out; parse_* return None for a malformed or negative response.
from diagbridge.uds.sid import SID_DSC, SID_ER, SID_SA, SID_CC, SID_TP, SID_CDTCS, SPRMIB


def _sf(out, sid, sf, suppress):
    out[0] = sid
    out[1] = (sf & 0x7F) | (SPRMIB if suppress else 0)
    return 2


def negative_nrc(data, n, sid):
    """The NRC of a `7F sid nrc` response, else 0."""
    if n == 3 and data[0] == 0x7F and data[1] == sid:
        return data[2]
    return 0


def _positive(data, n, sid, min_n):
    return n >= min_n and data[0] == sid + 0x40


# ---- 0x10 DiagnosticSessionControl (§10.2) ----------------------------------------
def build_dsc_request(out, session, suppress=False):
    return _sf(out, SID_DSC, session, suppress)


def write_dsc_response(out, session, p2_ms, p2star_ms):
    """50 SF P2hi P2lo P2*hi P2*lo: P2 in 1 ms, P2* in 10 ms units (§10.2.5)."""
    out[0] = SID_DSC + 0x40
    out[1] = session
    out[2] = (p2_ms >> 8) & 0xFF
    out[3] = p2_ms & 0xFF
    p2s = p2star_ms // 10
    out[4] = (p2s >> 8) & 0xFF
    out[5] = p2s & 0xFF
    return 6


def parse_dsc_response(data, n):
    """(session, p2_server_max_ms, p2star_server_max_ms) or None."""
    if not _positive(data, n, SID_DSC, 6) or n != 6:
        return None
    return data[1], (data[2] << 8) | data[3], ((data[4] << 8) | data[5]) * 10


# ---- 0x11 ECUReset (§10.3) ------------------------------------------------------
def build_ecu_reset_request(out, kind, suppress=False):
    return _sf(out, SID_ER, kind, suppress)


def write_ecu_reset_response(out, kind, power_down_time_s=-1):
    """51 SF [powerDownTime] (only for 04 enableRapidPowerShutDown)."""
    out[0] = SID_ER + 0x40
    out[1] = kind
    if power_down_time_s >= 0:
        out[2] = power_down_time_s
        return 3
    return 2


def parse_ecu_reset_response(data, n):
    """(kind, powerDownTime s or None) or None."""
    if not _positive(data, n, SID_ER, 2) or n > 3:
        return None
    return data[1], (data[2] if n == 3 else None)


# ---- 0x27 SecurityAccess (§10.4) -------------------------------------------------
def build_request_seed(out, level, record=b"", suppress=False):
    """27 level(odd) [securityAccessDataRecord]."""
    _sf(out, SID_SA, level, suppress)
    for i in range(len(record)):
        out[2 + i] = record[i]
    return 2 + len(record)


def build_send_key(out, level, key, suppress=False):
    """27 level+1 key: `level` is the requestSeed value."""
    _sf(out, SID_SA, level + 1, suppress)
    for i in range(len(key)):
        out[2 + i] = key[i]
    return 2 + len(key)


def parse_security_response(data, n):
    """(sub-function, seed bytes (empty for sendKey)) or None.  An all-zero
    seed means the level is already unlocked (§10.4.1)."""
    if not _positive(data, n, SID_SA, 2):
        return None
    return data[1], bytes(data[2:n])


# ---- 0x28 CommunicationControl (§10.5, B.1, B.4) -----------------------------------
CC_ENABLE_RX_AND_TX = 0x00
CC_ENABLE_RX_DISABLE_TX = 0x01
CC_DISABLE_RX_ENABLE_TX = 0x02
CC_DISABLE_RX_AND_TX = 0x03
CC_ENABLE_RX_DISABLE_TX_ENH = 0x04
CC_ENABLE_RX_AND_TX_ENH = 0x05
COMM_NORMAL = 0x01          # communicationType bits 1-0 (B.1)
COMM_NM = 0x02
COMM_ALL = 0x03


def build_comm_control_request(out, control, comm_type, node_id=-1, suppress=False):
    """28 controlType communicationType [nodeIdentificationNumber(2) for 04/05]."""
    _sf(out, SID_CC, control, suppress)
    out[2] = comm_type
    if control == CC_ENABLE_RX_DISABLE_TX_ENH or control == CC_ENABLE_RX_AND_TX_ENH:
        out[3] = (node_id >> 8) & 0xFF
        out[4] = node_id & 0xFF
        return 5
    return 3


def cc_request_length(control):
    return 5 if control == CC_ENABLE_RX_DISABLE_TX_ENH or control == CC_ENABLE_RX_AND_TX_ENH \
        else 3


def parse_sf_response(data, n, sid):
    """The echoed sub-function of a `sid+40 SF` response, else -1."""
    if n != 2 or data[0] != sid + 0x40:
        return -1
    return data[1]


# ---- 0x3E TesterPresent (§10.7) --------------------------------------------------
def build_tester_present_request(out, suppress=True):
    return _sf(out, SID_TP, 0, suppress)


# ---- 0x85 ControlDTCSetting (§10.8) ------------------------------------------------
DTC_SETTING_ON = 0x01
DTC_SETTING_OFF = 0x02


def build_control_dtc_setting_request(out, setting, option=b"", suppress=False):
    """85 SF [DTCSettingControlOptionRecord] (e.g. groupOfDTC FF FF FF)."""
    _sf(out, SID_CDTCS, setting, suppress)
    for i in range(len(option)):
        out[2 + i] = option[i]
    return 2 + len(option)


def write_sf_response(out, sid, sf):
    out[0] = sid + 0x40
    out[1] = sf & 0x7F
    return 2
