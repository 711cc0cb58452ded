# The example ECU profiles a host may name (the gateway's hosted-ECU request,
# `diagbridge ecu --profile NAME`), in one explicit table: a module here is
# reachable only through its entry.  Each exports make() -> Profile.  Nothing
# is imported here: the profile is loaded when it is named.
PROFILES = {
    "engine": "diagbridge.uds.server.profiles.engine",
}


def make(name):
    """A new Profile (with fresh state) of the example `name`; KeyError if unknown."""
    return __import__(PROFILES[name], None, None, ("make",)).make()
