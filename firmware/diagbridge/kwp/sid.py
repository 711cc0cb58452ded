# KWP2000 service identifiers (ISO 14230-3); a positive response is SId + 0x40,
# a negative one 7F SId RC.  The data-link services (StartCommunication 0x81,
# StopCommunication 0x82, AccessTimingParameter 0x83) are kline/frame.py's.
from diagbridge._compat import const

SID_SDS = const(0x10)       # startDiagnosticSession
SID_ER = const(0x11)        # ecuReset
SID_CDI = const(0x14)       # clearDiagnosticInformation
SID_RSODTC = const(0x17)    # readStatusOfDiagnosticTroubleCodes
SID_RDTCBS = const(0x18)    # readDiagnosticTroubleCodesByStatus
SID_REI = const(0x1A)       # readEcuIdentification
SID_SPDS = const(0x20)      # stopDiagnosticSession
SID_RDBLI = const(0x21)     # readDataByLocalIdentifier
SID_RDBCI = const(0x22)     # readDataByCommonIdentifier
SID_SA = const(0x27)        # securityAccess
SID_WDBCI = const(0x2E)     # writeDataByCommonIdentifier
SID_IOCBLI = const(0x30)    # inputOutputControlByLocalIdentifier
SID_STRBLI = const(0x31)    # startRoutineByLocalIdentifier
SID_SPRBLI = const(0x32)    # stopRoutineByLocalIdentifier
SID_RRRBLI = const(0x33)    # requestRoutineResultsByLocalIdentifier
SID_RD = const(0x34)        # requestDownload
SID_RU = const(0x35)        # requestUpload
SID_TD = const(0x36)        # transferData
SID_RTE = const(0x37)       # requestTransferExit
SID_WDBLI = const(0x3B)     # writeDataByLocalIdentifier
SID_TP = const(0x3E)        # testerPresent
SID_NR = const(0x7F)        # negativeResponse

# diagnosticMode values (ISO 14230-3; 0x87 is the tachograph's ECUAdjustmentSession)
SDS_STANDARD = const(0x81)
SDS_PERIODIC = const(0x82)      # periodic transmission (SSF 14230-2 4.4.2)
SDS_PROGRAMMING = const(0x85)
SDS_DEVELOPMENT = const(0x86)
SDS_ADJUSTMENT = const(0x87)

# testerPresent responseRequired
TP_RESPONSE = const(0x01)
TP_NO_RESPONSE = const(0x02)

# readDiagnosticTroubleCodesByStatus statusOfDTC (request types)
DTC_REQ_IDENTIFIED = const(0x00)        # requestIdentifiedDTCAndStatus
DTC_REQ_SUPPORTED = const(0x01)         # requestSupportedDTCAndStatus
DTC_REQ_IDENTIFIED_HEX = const(0x02)    # requestIdentified2BytesHexDTCAndStatus
DTC_REQ_SUPPORTED_HEX = const(0x03)     # requestSupported2BytesHexDTCAndStatus
GROUP_ALL = const(0xFF00)               # groupOfDTC: all DTCs

# inputOutputControlParameter
IOCP_RETURN_CONTROL = const(0x00)
IOCP_REPORT_STATE = const(0x01)
IOCP_RESET_TO_DEFAULT = const(0x04)
IOCP_FREEZE = const(0x05)
IOCP_SHORT_TERM = const(0x07)
