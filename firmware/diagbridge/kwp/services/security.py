# securityAccess 0x27 (ISO 14230-3): the UDS server's seed/key machine as it
# is (uds/server/services/security.py, uds/server/security_access.py: levels,
# algorithms, attempt counter and delay in NVM), with the accessMode byte taken
# whole (KWP has no suppressPosRspMsgIndicationBit).
#   27 accessMode(odd)           -> 67 accessMode seed     (zero seed: unlocked)
#   27 accessMode+1 key          -> 67 accessMode+1
# Refusals: 0x12 unknown mode, 0x80 in the standard session (levels'
# "sessions", default non_default), the length code for a wrong length,
# 0x22 key without seed, 0x35 invalid key, 0x36 attempts exceeded, 0x37 delay.
from diagbridge.uds.server.services import security as _uds
from diagbridge.uds.server.service import ServiceSpec, NON_DEFAULT

_U = _uds.SPECS[0]


def _spec():
    s = ServiceSpec(_U.sid, _U.handler, has_sf=True, min_len=2, sessions=NON_DEFAULT,
                    sub_functions_for=_U.sub_functions_for)
    s.sf_whole = True
    return s


SPECS = (_spec(),)
