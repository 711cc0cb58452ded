# Server side of SecurityAccess 0x27 (§10.4); the state machine is
# uds/server/security_access.py.  Sub-functions come from the profile's levels: odd
# requestSeed values and their sendKey (+1), each with an exact length
# (2 + securityAccessDataRecord / 2 + key length, so a key of the wrong
# length is 0x13 from the general checks, §8.7.5).  Not in defaultSession
# (Table 23 footnote; profile "services" may override).
from diagbridge.uds.server.service import ServiceSpec, SubFunction, NON_DEFAULT
from diagbridge.uds.sid import SID_SA


def _sa(srv, now, req, n, functional):
    sf = req[1] & 0x7F
    sec = srv.security
    rsp = srv.rsp
    if sf & 1:
        nrc = srv.conditions_nrc(now, req, n)
        if nrc:
            return -nrc
        r = sec.request_seed(now, sf, rsp, 2)   # zero seed if unlocked, 0x37 in the delay
        if r < 0:
            return r
    else:
        nrc = sec.send_key(now, sf - 1, req, 2, n - 2)    # 0x24 / 0x35 / 0x36
        if nrc:
            return -nrc
        srv.set_level(sec.level)
        r = 0
    rsp[0] = SID_SA + 0x40
    rsp[1] = sf
    return 2 + r


def _sa_sfs(profile):
    out = []
    levels = profile.security_levels
    for lv in sorted(levels):
        c = levels[lv]
        out.append(SubFunction(lv, sessions=c.sessions, exact_len=2 + c.data_record_len))
        out.append(SubFunction(lv + 1, sessions=c.sessions, exact_len=2 + c.key_len))
    return tuple(out)


SPECS = (
    ServiceSpec(SID_SA, _sa, has_sf=True, min_len=2, sessions=NON_DEFAULT,
                sub_functions_for=_sa_sfs),
)
