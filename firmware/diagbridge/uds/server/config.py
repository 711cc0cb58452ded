# UdsServerConfig: timing and buffer sizes of the UDS server; build_table:
# the server's service table (specs + profile overrides) and the access checks.
#
# Unit-suffixed ints with the defaults of ISO 14229-2 / the §10.2.5 example
# (P2 = 50 ms, P2* = 5000 ms, S3 = 5000 ms), validated at construction; a bad
# field raises ConfigError naming it.  P2/P2* may be overridden per session
# by the profile ("sessions": {0x03: {"p2_ms": .., "p2star_ms": ..}}).
from diagbridge._compat import const
from diagbridge.errors import ConfigError, config_int as _int
from diagbridge.uds.server.profile import sessions_set, key_int
from diagbridge.uds.server.services import specs as service_specs
from diagbridge.uds.server.service import ServiceSpec, SubFunction, NON_DEFAULT

DEFAULT_SESSION = const(0x01)

_MS_MAX = 200000            # well under half the 2**29 us tick period


class UdsServerConfig:
    """
      p2_server_max_ms      request -> first response (§4.1); 1 ms resolution
                            on the wire, 0..65535
      p2star_server_max_ms  0x78 -> next response; 10 ms resolution on the
                            wire, 0..655350
      s3_server_ms          non-default session inactivity timeout
      pending_margin_ms     a 0x78 is sent this long before P2 / P2* expire,
                            so it reaches the client in time (bus latency)
      max_pdu               response buffer; longer responses get 0x14
      max_dids              DIDs per 0x22 request (more -> 0x13); the
                            profile's limits.max_dids overrides it
      events                event queue depth
      nr_queue              short negative responses (0x78, 0x21) that can
                            wait for pop_pdu at once
    """

    def __init__(self, p2_server_max_ms=50, p2star_server_max_ms=5000, s3_server_ms=5000,
                 pending_margin_ms=10, max_pdu=4095, max_dids=16, events=16, nr_queue=4):
        self.p2_server_max_ms = _int("p2_server_max_ms", p2_server_max_ms, 1, 0xFFFF)
        self.p2star_server_max_ms = _int("p2star_server_max_ms", p2star_server_max_ms,
                                         10, 0xFFFF * 10)
        if p2star_server_max_ms % 10:
            raise ConfigError("p2star_server_max_ms")   # encoded in 10 ms units (§4.1)
        self.s3_server_ms = _int("s3_server_ms", s3_server_ms, 1, _MS_MAX)
        self.pending_margin_ms = _int("pending_margin_ms", pending_margin_ms, 0,
                                      p2_server_max_ms - 1)
        self.max_pdu = _int("max_pdu", max_pdu, 8, 0xFFFFFF)
        self.max_dids = _int("max_dids", max_dids, 1, 0x7FF)
        self.events = _int("events", events, 2, 255)
        self.nr_queue = _int("nr_queue", nr_queue, 2, 64)


# ---- the service table ------------------------------------------------------------
def session_ok(sessions, session):
    """Access check: sessions is None (any), NON_DEFAULT or a tuple."""
    if sessions is None:
        return True
    if sessions == NON_DEFAULT:
        return session != DEFAULT_SESSION
    return session in sessions


def level_ok(levels, level):
    return not levels or level in levels


def auth_ok(req, role):
    return not req or (role != 0 and (req is True or (role & req) != 0))


class _Entry:
    """One SID as this server serves it: the spec plus profile overrides.
    The sub-functions are the spec's own objects (shared by every server);
    build_table copies one before a profile override changes it."""

    def __init__(self, spec, profile):
        self.spec = spec
        self.sid = spec.sid
        sfs = spec.sub_functions
        if spec.sub_functions_for is not None:
            sfs = spec.sub_functions_for(profile)
        self.sfs = {}
        for s in sfs:
            self.sfs[s.sf] = s
        self.sessions = spec.sessions
        self.levels = spec.levels
        self.auth = spec.auth


def build_table(specs, profile):
    """{sid: _Entry} from the modules' SPECS (or profile.modules) plus the
    profile's "services" overrides."""
    if specs is None:
        specs = []
        for name in profile.modules:
            try:
                specs.append(service_specs(name))
            except (KeyError, ImportError):
                raise ConfigError("modules: " + name)
    flat = []
    for item in specs:
        if isinstance(item, ServiceSpec):
            flat.append(item)
        else:
            for s in item:
                flat.append(s)
    entries = {}
    for spec in flat:
        if spec.sid in entries:
            raise ConfigError("specs: SID 0x%02X twice" % spec.sid)
        entries[spec.sid] = _Entry(spec, profile)
    ov = profile.services
    for sid in ov:
        path = "services.0x%02X" % sid
        e = entries.get(sid)
        if e is None:
            raise ConfigError(path)         # no module serves this SID
        o = ov[sid]
        if o.get("supported", True) is False:
            del entries[sid]
            continue
        _override(e, o, path)
        sfo = o.get("sub_functions") or {}
        for k in sfo:
            sf = key_int(k, path + ".sub_functions", 0x7F)
            s = e.sfs.get(sf)
            if s is None:
                raise ConfigError(path + ".sub_functions.0x%02X" % sf)
            s = SubFunction(s.sf, s.sessions, s.levels, s.auth, s.exact_len, s.min_len)
            _override(s, sfo[k], path + ".sub_functions.0x%02X" % sf)
            e.sfs[sf] = s
    return entries


def _override(obj, o, path):
    if not isinstance(o, dict):
        raise ConfigError(path)
    if "sessions" in o:
        obj.sessions = sessions_set(o["sessions"], path + ".sessions")
    if "levels" in o:
        obj.levels = tuple(key_int(x, path + ".levels", 0x7E) for x in o["levels"])
    if "auth" in o:
        obj.auth = o["auth"]
