# The KWP2000 service modules a KWP profile's "modules" list may name, in one
# explicit table (as uds/server/services/SERVICES): each exports SPECS, a
# tuple of uds/server/service.ServiceSpec, so the UDS server runs them with
# its general checks, sessions, security, NVM and pending (0x78) machinery.
# Nothing is imported here: a board loads only the modules its profile names.
from diagbridge.errors import ConfigError

_P = "diagbridge.kwp.services."

SERVICES = {
    "session": _P + "session",      # 0x10 0x20 0x11 0x3E
    "security": _P + "security",    # 0x27
    "data": _P + "data",            # 0x1A 0x21 0x22 0x2E 0x3B
    "dtc": _P + "dtc",              # 0x14 0x17 0x18
    "io": _P + "io",                # 0x30
    "routine": _P + "routine",      # 0x31 0x32 0x33
    "transfer": _P + "transfer",    # 0x34 0x35 0x36 0x37
    "pin": _P + "pin",              # 0x27 the tachograph's PIN entry (instead of "security")
    "tacho": _P + "tacho",          # 0x27 0x22 0x2E 0x2F 0x31 the tachograph VU (tacho/)
}


def specs(name):
    """The SPECS of the KWP service module `name`; KeyError if unknown."""
    return __import__(SERVICES[name], None, None, ("SPECS",)).SPECS


def specs_for(profile):
    """The SPECS tuples of every module profile.modules names (ConfigError
    for a name the table does not have)."""
    out = []
    for name in profile.modules:
        if name not in SERVICES:
            raise ConfigError("modules: " + name)
        out.append(specs(name))
    return out
