# ServiceTable: the UDS server's service table (config.build_table: the
# modules' SPECS plus the profile's "services" overrides), the spec lists per
# hook, and the general checks of ISO 14229-1 §8.7 (uds-digest §3.3-3.6) that
# run before a handler, in this order:
#   SID supported -> 0x11; in the active session -> 0x7F; required inside
#   0x84 (srv.secure_required) but sent outside it -> 0x38; authentication
#   -> 0x34; security -> 0x33; then with a sub-function: length >= 2 -> 0x13;
#   supported -> 0x12; in session -> 0x7E; authentication -> 0x34; security
#   -> 0x33; exact / minimum length -> 0x13; without one: minimum length ->
#   0x13; then the handler (sequence 0x24, service-specific checks).
# `sprmib` is the suppressPosRspMsgIndicationBit of the request checked last
# (set once its sub-function byte is reached); the server clears it per
# request.  Busy (0x21) and the response rules are the server's (server.py).
# Two hooks for KWP2000 (kwp/), both without effect on UDS specs: a spec with
# the attribute sf_whole = True takes its sub-function byte whole (KWP's
# diagnosticMode 0x81, accessMode 0x7D: no suppressPosRspMsgIndicationBit),
# and NON_DEFAULT means "not in srv.default_session" (0x81 for KWP).
from diagbridge.uds.server.config import build_table, session_ok, level_ok, auth_ok
from diagbridge.uds.server.service import NON_DEFAULT
from diagbridge.uds.nrc import (NRC_SNS, NRC_SNSIAS, NRC_AR, NRC_SAD, NRC_IMLOIF, NRC_SFNS,
                                NRC_SFNSIAS, NRC_SDTR)


class ServiceTable:
    def __init__(self, specs, profile):
        self.entries = build_table(specs, profile)
        self.specs = [self.entries[sid].spec for sid in sorted(self.entries)]
        self.session_specs = [s for s in self.specs if s.on_session is not None]
        self.reset_specs = [s for s in self.specs if s.on_reset is not None]
        self.timer_specs = [s for s in self.specs if s.on_timer is not None]
        self.deadline_specs = [s for s in self.specs if s.deadline is not None]
        self.unsol_specs = [s for s in self.specs if s.pop_unsolicited is not None]
        self.build_specs = [s for s in self.specs if getattr(s, "on_build", None) is not None]
        self.request_specs = [s for s in self.specs
                              if getattr(s, "on_request", None) is not None]
        self.whole = {}             # sid -> True: sub-function byte without SPRMIB
        for s in self.specs:
            if getattr(s, "sf_whole", False):
                self.whole[s.sid] = True
        self.sprmib = False

    def check(self, srv, now, data, n, functional):
        """The general checks for data[0:n] on srv, then its handler's result."""
        e = self.entries.get(data[0])
        if e is None:
            return -NRC_SNS
        if not _session_ok(e.sessions, srv):
            return -NRC_SNSIAS
        if srv.secure_required and data[0] in srv.secure_required and not srv.secure_diag:
            return -NRC_SDTR
        if not auth_ok(e.auth, srv.auth_role):
            return -NRC_AR
        if not level_ok(e.levels, srv.level):
            return -NRC_SAD
        spec = e.spec
        if spec.has_sf:
            if n < 2:
                return -NRC_IMLOIF
            sf = data[1]
            if e.sid in self.whole:
                s = e.sfs.get(sf)
            else:
                self.sprmib = (sf & 0x80) != 0
                s = e.sfs.get(sf & 0x7F)
            if s is None:
                return -NRC_SFNS
            if not _session_ok(s.sessions, srv):
                return -NRC_SFNSIAS
            if not auth_ok(s.auth, srv.auth_role):
                return -NRC_AR
            if not level_ok(s.levels, srv.level):
                return -NRC_SAD
            if (s.exact_len >= 0 and n != s.exact_len) or n < s.min_len:
                return -NRC_IMLOIF
        elif n < spec.min_len:
            return -NRC_IMLOIF
        return spec.handler(srv, now, data, n, functional)

    def execute(self, srv, now, req, n):
        """srv.execute(): req[0:n] through check() as a physical request,
        without touching the running request's SPRMIB; the request's own
        SPRMIB goes to srv.exec_sprmib, its spec (or None) to srv.exec_spec."""
        if n < 1:
            return -NRC_IMLOIF
        e = self.entries.get(req[0])
        srv.exec_spec = None if e is None else e.spec
        saved = self.sprmib
        self.sprmib = False
        r = self.check(srv, now, req, n, False)
        srv.exec_sprmib = self.sprmib
        self.sprmib = saved
        return r


def _session_ok(sessions, srv):
    if sessions == NON_DEFAULT:
        return srv.session != getattr(srv, "default_session", 0x01)
    return session_ok(sessions, srv.session)
