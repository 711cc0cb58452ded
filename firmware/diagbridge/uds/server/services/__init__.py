# The service modules a profile's "modules" list may name, in one explicit
# table (as python-can's BACKENDS): moving or adding a file cannot silently
# change what a profile loads, and a test checks every entry imports and
# exports SPECS.  Nothing is imported here: a board loads only the modules
# its profiles name.
_P = "diagbridge.uds.server.services."

SERVICES = {
    "session": _P + "session",          # 0x10 0x11 0x3E 0x28 0x85
    "security": _P + "security",        # 0x27
    "data": _P + "data",                # 0x22 0x24 0x2E
    "memory": _P + "memory",            # 0x23 0x3D
    "dtc": _P + "dtc",                  # 0x14 0x19
    "roe": _P + "roe",                  # 0x86
    "routine": _P + "routine",          # 0x31
    "transfer": _P + "transfer",        # 0x34 0x35 0x36 0x37 0x38
    "io": _P + "io",                    # 0x2F
    "periodic": _P + "periodic",        # 0x2A
    "dddid": _P + "dddid",              # 0x2C
    "link": _P + "link",                # 0x87
    "secured": _P + "secured",          # 0x84
    "obd": _P + "obd",                  # 0x01 0x03 0x07 0x09 0x0A (ISO 15031-5)
    "auth": _P + "auth",                # 0x29
}


def specs(name):
    """The SPECS of the service module `name`; KeyError if the table has no such name."""
    return __import__(SERVICES[name], None, None, ("SPECS",)).SPECS
