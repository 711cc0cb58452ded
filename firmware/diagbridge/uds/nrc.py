# Negative response codes of ISO 14229-1 Annex A, Table A.1 (the table is
# missing from the source text; values per ISO 14229-1:2020, see
# uds-digest §3.1).  A negative response is always `7F SID NRC` (§8.3).
from diagbridge._compat import const

NRC_PR = const(0x00)        # positiveResponse (internal only)
NRC_GR = const(0x10)        # generalReject
NRC_SNS = const(0x11)       # serviceNotSupported
NRC_SFNS = const(0x12)      # SubFunctionNotSupported
NRC_IMLOIF = const(0x13)    # incorrectMessageLengthOrInvalidFormat
NRC_RTL = const(0x14)       # responseTooLong
NRC_BRR = const(0x21)       # busyRepeatRequest
NRC_CNC = const(0x22)       # conditionsNotCorrect
NRC_RSE = const(0x24)       # requestSequenceError
NRC_NRFSC = const(0x25)     # noResponseFromSubnetComponent
NRC_FPEORA = const(0x26)    # FailurePreventsExecutionOfRequestedAction
NRC_ROOR = const(0x31)      # requestOutOfRange
NRC_SAD = const(0x33)       # securityAccessDenied
NRC_AR = const(0x34)        # authenticationRequired (2020)
NRC_IK = const(0x35)        # invalidKey
NRC_ENOA = const(0x36)      # exceededNumberOfAttempts
NRC_RTDNE = const(0x37)     # requiredTimeDelayNotExpired
NRC_SDTR = const(0x38)      # secureDataTransmissionRequired
NRC_SDTNA = const(0x39)     # secureDataTransmissionNotAllowed
NRC_SDTF = const(0x3A)      # secureDataVerificationFailed
NRC_CVF_ITP = const(0x50)   # Certificate verification failed: Invalid Time Period
NRC_CVF_ISIG = const(0x51)  # ... Invalid Signature
NRC_CVF_ICOT = const(0x52)  # ... Invalid Chain of Trust
NRC_CVF_IT = const(0x53)    # ... Invalid Type
NRC_CVF_IF = const(0x54)    # ... Invalid Format
NRC_CVF_IC = const(0x55)    # ... Invalid Content
NRC_CVF_ISCP = const(0x56)  # ... Invalid Scope
NRC_CVF_ICERT = const(0x57)  # ... Invalid Certificate (revoked)
NRC_OVF = const(0x58)       # Ownership verification failed
NRC_CCF = const(0x59)       # Challenge calculation failed
NRC_SARF = const(0x5A)      # Setting Access Rights failed
NRC_SKCDF = const(0x5B)     # Session key creation/derivation failed
NRC_CDUF = const(0x5C)      # Configuration data usage failed
NRC_DAF = const(0x5D)       # DeAuthentication failed
NRC_UDNA = const(0x70)      # uploadDownloadNotAccepted
NRC_TDS = const(0x71)       # transferDataSuspended
NRC_GPF = const(0x72)       # generalProgrammingFailure
NRC_WBSC = const(0x73)      # wrongBlockSequenceCounter
NRC_RCRRP = const(0x78)     # requestCorrectlyReceived-ResponsePending
NRC_SFNSIAS = const(0x7E)   # SubFunctionNotSupportedInActiveSession
NRC_SNSIAS = const(0x7F)    # serviceNotSupportedInActiveSession
NRC_RPMTH = const(0x81)     # rpmTooHigh
NRC_RPMTL = const(0x82)     # rpmTooLow
NRC_EIR = const(0x83)       # engineIsRunning
NRC_EINR = const(0x84)      # engineIsNotRunning
NRC_ERTTL = const(0x85)     # engineRunTimeTooLow
NRC_TEMPTH = const(0x86)    # temperatureTooHigh
NRC_TEMPTL = const(0x87)    # temperatureTooLow
NRC_VSTH = const(0x88)      # vehicleSpeedTooHigh
NRC_VSTL = const(0x89)      # vehicleSpeedTooLow
NRC_TPTH = const(0x8A)      # throttle/PedalTooHigh
NRC_TPTL = const(0x8B)      # throttle/PedalTooLow
NRC_TRNIN = const(0x8C)     # transmissionRangeNotInNeutral
NRC_TRNIG = const(0x8D)     # transmissionRangeNotInGear
NRC_BSNC = const(0x8F)      # brakeSwitch(es)NotClosed
NRC_SLNIP = const(0x90)     # shifterLeverNotInPark
NRC_TCCL = const(0x91)      # torqueConverterClutchLocked
NRC_VTH = const(0x92)       # voltageTooHigh
NRC_VTL = const(0x93)       # voltageTooLow
NRC_RTNA = const(0x94)      # ResourceTemporarilyNotAvailable (2020)

def suppressed_if_functional(code):
    """NRCs never sent for a functionally addressed request (§8.7.1), unless
    a 0x78 was sent first (§8.7.5)."""
    return code == 0x11 or code == 0x12 or code == 0x31 or code == 0x7E or code == 0x7F
