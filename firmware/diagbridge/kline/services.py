# The ECU's answers to the data-link services of SSF 14230-2 section 5:
# StartCommunication (5.1), StopCommunication (5.2), AccessTimingParameter
# (5.3).  Each writes the response data field (SId first) into `out` and
# returns its length; nothing here changes the link: the ECU applies a
# StopCommunication or new timing once the response is out.
from diagbridge.kline import frame as F
from diagbridge.kline import timing as T


def negative(out, sid, rc):
    out[0] = F.SID_NEGATIVE_RESPONSE
    out[1] = sid
    out[2] = rc
    return 3


def start_communication(out, kb1, kb2):
    """C1 KB1 KB2 (there is no negative response: an ECU that cannot start stays silent)."""
    out[0] = F.SID_START_COMMUNICATION_PR
    out[1] = kb1
    out[2] = kb2
    return 3


def stop_communication(out, n, allowed):
    """C2, or 7F 82 10 (generalReject) when the ECU cannot stop now; 7F 82 12
    for a request with parameters."""
    if n != 1:
        return negative(out, F.SID_STOP_COMMUNICATION, F.RC_SUB_FUNCTION_NOT_SUPPORTED)
    if not allowed:
        return negative(out, F.SID_STOP_COMMUNICATION, F.RC_GENERAL_REJECT)
    out[0] = F.SID_STOP_COMMUNICATION_PR
    return 1


def access_timing_parameter(out, req, off, n, timing, pending, limits, allowed):
    """req[off:off+n] = 83 TPI [values].  TPI 00 limits, 02 current values:
    C3 TPI + 5 bytes; TPI 01 defaults, 03 set values: C3 TPI, with the new
    values left in `pending` (a Timing) for TPI 03.  Refusals: 7F 83 10 when
    the ECU cannot change timing (allowed False), 12 a wrong length or an
    unknown TPI, 31 values outside `limits` or the section 4.4 restrictions."""
    sid = F.SID_ACCESS_TIMING_PARAMETER
    tpi = req[off + 1] if n >= 2 else -1
    if (tpi == T.TPI_READ_LIMITS or tpi == T.TPI_READ_CURRENT) and n == 2:
        out[0] = F.SID_ACCESS_TIMING_PARAMETER_PR
        out[1] = tpi
        if tpi == T.TPI_READ_LIMITS:
            limits.encode(out, 2)
        else:
            timing.encode(out, 2)
        return 7
    if (tpi == T.TPI_SET_DEFAULTS and n == 2) or (tpi == T.TPI_SET_VALUES and n == 7):
        if not allowed:
            return negative(out, sid, F.RC_GENERAL_REJECT)
        if tpi == T.TPI_SET_VALUES:
            pending.copy_from(timing)
            rc = pending.set_from_atp(req, off + 2, 5, limits)
            if rc:
                return negative(out, sid, rc)
        out[0] = F.SID_ACCESS_TIMING_PARAMETER_PR
        out[1] = tpi
        return 2
    return negative(out, sid, F.RC_SUB_FUNCTION_NOT_SUPPORTED)
