# Service identifiers of ISO 14229-1 (Table 2 is missing from the source;
# values per ISO 14229-1:2020, uds-digest §2).  Positive response SID =
# request SID + 0x40 (RSID); 0x7F is the negative response SID (§8.3).
from diagbridge._compat import const

SID_DSC = const(0x10)       # DiagnosticSessionControl
SID_ER = const(0x11)        # ECUReset
SID_CDTCI = const(0x14)     # ClearDiagnosticInformation
SID_RDTCI = const(0x19)     # ReadDTCInformation
SID_RDBI = const(0x22)      # ReadDataByIdentifier
SID_RMBA = const(0x23)      # ReadMemoryByAddress
SID_RSDBI = const(0x24)     # ReadScalingDataByIdentifier
SID_SA = const(0x27)        # SecurityAccess
SID_CC = const(0x28)        # CommunicationControl
SID_ARS = const(0x29)       # Authentication
SID_RDBPI = const(0x2A)     # ReadDataByPeriodicIdentifier
SID_DDDI = const(0x2C)      # DynamicallyDefineDataIdentifier
SID_WDBI = const(0x2E)      # WriteDataByIdentifier
SID_IOCBI = const(0x2F)     # InputOutputControlByIdentifier
SID_RC = const(0x31)        # RoutineControl
SID_RD = const(0x34)        # RequestDownload
SID_RU = const(0x35)        # RequestUpload
SID_TD = const(0x36)        # TransferData
SID_RTE = const(0x37)       # RequestTransferExit
SID_RFT = const(0x38)       # RequestFileTransfer
SID_WMBA = const(0x3D)      # WriteMemoryByAddress
SID_TP = const(0x3E)        # TesterPresent
SID_NR = const(0x7F)        # negative response
SID_ATP = const(0x83)       # AccessTimingParameter (withdrawn in 2020)
SID_SDT = const(0x84)       # SecuredDataTransmission
SID_CDTCS = const(0x85)     # ControlDTCSetting
SID_ROE = const(0x86)       # ResponseOnEvent
SID_LC = const(0x87)        # LinkControl

RSID_OFFSET = const(0x40)
SPRMIB = const(0x80)        # suppressPosRspMsgIndicationBit in the sub-function byte
