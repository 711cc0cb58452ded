# RoutineControl 0x31 layouts, ISO 14229-1 §14.2 (digest §10.11):
#   request   31 SF RID(2) [routineControlOptionRecord]
#   response  71 SF RID(2) [routineInfo] [routineStatusRecord]
# SF: 01 startRoutine, 02 stopRoutine, 03 requestRoutineResults (bit 7 =
# suppressPosRspMsgIndicationBit).  Standard RIDs (F.1): FF00 eraseMemory,
# FF01 checkProgrammingDependencies.  eraseMemory's option record is
# `ALFID memoryAddress memorySize` (as in 0x34, §9.1).
from diagbridge._compat import const
from diagbridge.uds.codec.ints import alfid, put_uint

SID_ROUTINE_CONTROL = const(0x31)
RC_START = const(0x01)
RC_STOP = const(0x02)
RC_RESULTS = const(0x03)
RID_ERASE_MEMORY = const(0xFF00)
RID_CHECK_PROGRAMMING_DEPENDENCIES = const(0xFF01)

_SPR = const(0x80)


def build_routine_control_request(out, sf, rid, option=None, suppress=False):
    """`31 SF RID [option]` -> length."""
    out[0] = SID_ROUTINE_CONTROL
    out[1] = sf | (_SPR if suppress else 0)
    out[2] = rid >> 8
    out[3] = rid & 0xFF
    n = 4
    if option is not None:
        for b in option:
            out[n] = b
            n += 1
    return n


def build_erase_memory_request(out, addr, size, addr_len=4, size_len=4, suppress=False):
    """`31 01 FF 00 ALFID addr size` -> length."""
    build_routine_control_request(out, RC_START, RID_ERASE_MEMORY, None, suppress)
    out[4] = alfid(addr_len, size_len)
    n = put_uint(out, 5, addr, addr_len)
    return put_uint(out, n, size, size_len)


def write_routine_control_response(out, sf, rid):
    """`71 SF RID`; the caller appends the status record at out[4:]; returns 4."""
    out[0] = SID_ROUTINE_CONTROL | 0x40
    out[1] = sf & 0x7F
    out[2] = rid >> 8
    out[3] = rid & 0xFF
    return 4


def parse_routine_control_response(data, n):
    """(sf, rid, status_offset) of `71 SF RID [status]`, or None.  The status
    record (routineInfo + routineStatusRecord, VM format) is data[status_offset:n]."""
    if n < 4 or data[0] != SID_ROUTINE_CONTROL | 0x40:
        return None
    return data[1], (data[2] << 8) | data[3], 4


def build_address_routine_request(out, rid, addr, size, addr_len=4, size_len=4, sf=RC_START,
                                  suppress=False):
    """`31 SF RID ALFID addr size` -> length: eraseMemory with another RID, or a
    checksum routine over a memory range (the option layout of FF00)."""
    build_routine_control_request(out, sf, rid, None, suppress)
    out[4] = alfid(addr_len, size_len)
    n = put_uint(out, 5, addr, addr_len)
    return put_uint(out, n, size, size_len)
