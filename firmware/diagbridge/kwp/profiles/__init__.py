# The example KWP2000 ECU profiles, in one explicit table (as
# uds/server/profiles/PROFILES): each module exports make() -> Profile.
# Nothing is imported here: a profile is loaded when it is named.
PROFILES = {
    "kwp_engine": "diagbridge.kwp.profiles.kwp_engine",
    "tacho_vu": "diagbridge.kwp.profiles.tacho_vu",
}


def make(name):
    """A new Profile (with fresh state) of the example `name`; KeyError if unknown."""
    return __import__(PROFILES[name], None, None, ("make",)).make()
