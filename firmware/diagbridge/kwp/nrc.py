# ISO 14230-3 response codes (KWP2000) and the translation of the UDS
# server's ISO 14229-1 codes into them.  The KWP service table runs on the UDS
# server (uds/server/), whose general checks and shared handlers speak ISO
# 14229-1; kwp/ecu.py passes every negative response through kwp_rc() before
# it goes on the K-Line, so the tester only ever sees KWP's vocabulary.
from diagbridge._compat import const

RC_GR = const(0x10)         # generalReject
RC_SNS = const(0x11)        # serviceNotSupported
RC_SFNS_IF = const(0x12)    # subFunctionNotSupported-invalidFormat
RC_IML = const(0x13)        # incorrectMessageLength (the tachograph's, not ISO 14230-3)
RC_B_RR = const(0x21)       # busy-RepeatRequest
RC_CNC_RSE = const(0x22)    # conditionsNotCorrect or requestSequenceError
RC_RNC = const(0x23)        # routineNotComplete
RC_ROOR = const(0x31)       # requestOutOfRange
RC_SAD_SAR = const(0x33)    # securityAccessDenied-securityAccessRequested
RC_IK = const(0x35)         # invalidKey
RC_ENOA = const(0x36)       # exceedNumberOfAttempts
RC_RTDNE = const(0x37)      # requiredTimeDelayNotExpired
RC_DNA = const(0x40)        # downloadNotAccepted
RC_IDT = const(0x41)        # improperDownloadType
RC_CNDTSA = const(0x42)     # canNotDownloadToSpecifiedAddress
RC_CNDNOBR = const(0x43)    # canNotDownloadNumberOfBytesRequested
RC_UNA = const(0x50)        # uploadNotAccepted
RC_IUT = const(0x51)        # improperUploadType
RC_CNUFSA = const(0x52)     # canNotUploadFromSpecifiedAddress
RC_CNUNOBR = const(0x53)    # canNotUploadNumberOfBytesRequested
RC_TS = const(0x71)         # transferSuspended
RC_TA = const(0x72)         # transferAborted
RC_IAIBT = const(0x74)      # illegalAddressInBlockTransfer
RC_IBCIBT = const(0x75)     # illegalByteCountInBlockTransfer
RC_IBTT = const(0x76)       # illegalBlockTransferType
RC_BTDCE = const(0x77)      # blockTransferDataChecksumError
RC_RCR_RP = const(0x78)     # reqCorrectlyRcvd-RspPending
RC_IBCDBT = const(0x79)     # incorrectByteCountDuringBlockTransfer
RC_SNSIADM = const(0x80)    # serviceNotSupportedInActiveDiagnosticMode

_NAMES = {
    0x10: "generalReject", 0x11: "serviceNotSupported",
    0x12: "subFunctionNotSupported-invalidFormat", 0x13: "incorrectMessageLength",
    0x21: "busy-RepeatRequest", 0x22: "conditionsNotCorrect-requestSequenceError",
    0x23: "routineNotComplete", 0x31: "requestOutOfRange",
    0x33: "securityAccessDenied-securityAccessRequested", 0x35: "invalidKey",
    0x36: "exceedNumberOfAttempts", 0x37: "requiredTimeDelayNotExpired",
    0x40: "downloadNotAccepted", 0x41: "improperDownloadType",
    0x42: "canNotDownloadToSpecifiedAddress", 0x43: "canNotDownloadNumberOfBytesRequested",
    0x50: "uploadNotAccepted", 0x51: "improperUploadType",
    0x52: "canNotUploadFromSpecifiedAddress", 0x53: "canNotUploadNumberOfBytesRequested",
    0x71: "transferSuspended", 0x72: "transferAborted",
    0x74: "illegalAddressInBlockTransfer", 0x75: "illegalByteCountInBlockTransfer",
    0x76: "illegalBlockTransferType", 0x77: "blockTransferDataChecksumError",
    0x78: "reqCorrectlyRcvd-RspPending", 0x79: "incorrectByteCountDuringBlockTransfer",
    0x80: "serviceNotSupportedInActiveDiagnosticMode",
}


def rc_name(rc):
    """The ISO 14230-3 name of a response code (manufacturer ranges by range)."""
    n = _NAMES.get(rc)
    if n is not None:
        return n
    if 0x90 <= rc <= 0xF9:
        return "vehicleManufacturerSpecific"
    if 0xFA <= rc <= 0xFE:
        return "systemSupplierSpecific"
    return "reserved"


def kwp_rc(sid, nrc, length_rc=RC_SFNS_IF):
    """The ISO 14230-3 code for the UDS server's ISO 14229-1 `nrc` to `sid`.
    Codes both standards share (10 11 12 21 22 31 33 35 36 37 71 78) pass;
    length_rc is the profile's answer to a wrong length (kwp.length_nrc)."""
    if nrc == 0x13:
        return length_rc            # incorrectMessageLengthOrInvalidFormat
    if nrc == 0x7E or nrc == 0x7F:
        return RC_SNSIADM           # (sub-function) not supported in active session
    if nrc == 0x24:
        return RC_CNC_RSE           # requestSequenceError
    if nrc == 0x70:                 # uploadDownloadNotAccepted
        return RC_UNA if sid == 0x35 else RC_DNA
    if nrc == 0x73:                 # wrongBlockSequenceCounter
        return RC_IBTT
    if nrc == 0x14:                 # responseTooLong
        return RC_GR
    if nrc == 0x34 or nrc == 0x38:  # authentication / secured transmission required
        return RC_SAD_SAR
    if 0x81 <= nrc <= 0x8F or nrc == 0x94 or nrc == 0x25 or nrc == 0x26:
        return RC_CNC_RSE           # ISO 14229-1 condition codes: reserved in KWP
    return nrc
