# NRC names, ISO 14229-1 Annex A.1, one table and one vocabulary for every
# tester (the core's, the CPython facades, the host library, the CLI):
#   nrc_name(0x31) -> "ROOR"               the standard's mnemonic (the NRC_* constants' names)
#   nrc_text(0x31) -> "requestOutOfRange"  the standard's name
# Apart from nrc.py so an ECU on a board, which needs only the codes, never
# loads the strings.

_TABLE = (
    (0x00, "PR", "positiveResponse"),
    (0x10, "GR", "generalReject"),
    (0x11, "SNS", "serviceNotSupported"),
    (0x12, "SFNS", "subFunctionNotSupported"),
    (0x13, "IMLOIF", "incorrectMessageLengthOrInvalidFormat"),
    (0x14, "RTL", "responseTooLong"),
    (0x21, "BRR", "busyRepeatRequest"),
    (0x22, "CNC", "conditionsNotCorrect"),
    (0x24, "RSE", "requestSequenceError"),
    (0x25, "NRFSC", "noResponseFromSubnetComponent"),
    (0x26, "FPEORA", "failurePreventsExecutionOfRequestedAction"),
    (0x31, "ROOR", "requestOutOfRange"),
    (0x33, "SAD", "securityAccessDenied"),
    (0x34, "AR", "authenticationRequired"),
    (0x35, "IK", "invalidKey"),
    (0x36, "ENOA", "exceededNumberOfAttempts"),
    (0x37, "RTDNE", "requiredTimeDelayNotExpired"),
    (0x38, "SDTR", "secureDataTransmissionRequired"),
    (0x39, "SDTNA", "secureDataTransmissionNotAllowed"),
    (0x3A, "SDTF", "secureDataVerificationFailed"),
    (0x50, "CVF_ITP", "certificateVerificationFailedInvalidTimePeriod"),
    (0x51, "CVF_ISIG", "certificateVerificationFailedInvalidSignature"),
    (0x52, "CVF_ICOT", "certificateVerificationFailedInvalidChainOfTrust"),
    (0x53, "CVF_IT", "certificateVerificationFailedInvalidType"),
    (0x54, "CVF_IF", "certificateVerificationFailedInvalidFormat"),
    (0x55, "CVF_IC", "certificateVerificationFailedInvalidContent"),
    (0x56, "CVF_ISCP", "certificateVerificationFailedInvalidScope"),
    (0x57, "CVF_ICERT", "certificateVerificationFailedInvalidCertificate"),
    (0x58, "OVF", "ownershipVerificationFailed"),
    (0x59, "CCF", "challengeCalculationFailed"),
    (0x5A, "SARF", "settingAccessRightsFailed"),
    (0x5B, "SKCDF", "sessionKeyCreationDerivationFailed"),
    (0x5C, "CDUF", "configurationDataUsageFailed"),
    (0x5D, "DAF", "deAuthenticationFailed"),
    (0x70, "UDNA", "uploadDownloadNotAccepted"),
    (0x71, "TDS", "transferDataSuspended"),
    (0x72, "GPF", "generalProgrammingFailure"),
    (0x73, "WBSC", "wrongBlockSequenceCounter"),
    (0x78, "RCRRP", "requestCorrectlyReceived-ResponsePending"),
    (0x7E, "SFNSIAS", "subFunctionNotSupportedInActiveSession"),
    (0x7F, "SNSIAS", "serviceNotSupportedInActiveSession"),
    (0x81, "RPMTH", "rpmTooHigh"),
    (0x82, "RPMTL", "rpmTooLow"),
    (0x83, "EIR", "engineIsRunning"),
    (0x84, "EINR", "engineIsNotRunning"),
    (0x85, "ERTTL", "engineRunTimeTooLow"),
    (0x86, "TEMPTH", "temperatureTooHigh"),
    (0x87, "TEMPTL", "temperatureTooLow"),
    (0x88, "VSTH", "vehicleSpeedTooHigh"),
    (0x89, "VSTL", "vehicleSpeedTooLow"),
    (0x8A, "TPTH", "throttlePedalTooHigh"),
    (0x8B, "TPTL", "throttlePedalTooLow"),
    (0x8C, "TRNIN", "transmissionRangeNotInNeutral"),
    (0x8D, "TRNIG", "transmissionRangeNotInGear"),
    (0x8F, "BSNC", "brakeSwitchesNotClosed"),
    (0x90, "SLNIP", "shifterLeverNotInPark"),
    (0x91, "TCCL", "torqueConverterClutchLocked"),
    (0x92, "VTH", "voltageTooHigh"),
    (0x93, "VTL", "voltageTooLow"),
    (0x94, "RTNA", "resourceTemporarilyNotAvailable"),
)


def _find(code):
    for row in _TABLE:
        if row[0] == code:
            return row
    return None


def nrc_name(code):
    """The mnemonic of an NRC ("ROOR"), or the range it falls in (Annex A.1)."""
    row = _find(code)
    if row is not None:
        return row[1]
    if 0x95 <= code <= 0xEF:
        return "RFSCNC_0x%02X" % code       # reservedForSpecificConditionsNotCorrect
    if 0xF0 <= code <= 0xFE:
        return "VMSCNC_0x%02X" % code       # vehicleManufacturerSpecificConditionsNotCorrect
    return "ISOSAERESRVD_0x%02X" % code


def nrc_text(code):
    """The standard's name of an NRC ("requestOutOfRange"), or its range's."""
    row = _find(code)
    if row is not None:
        return row[2]
    if 0x95 <= code <= 0xEF:
        return "reservedForSpecificConditionsNotCorrect"
    if 0xF0 <= code <= 0xFE:
        return "vehicleManufacturerSpecificConditionsNotCorrect"
    return "ISOSAEReserved"
