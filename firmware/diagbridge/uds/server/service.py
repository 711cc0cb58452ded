# The contract between the UDS server (uds/server/core.py) and its service
# modules.  One service module per SID group; each exports SPECS, a tuple of
# ServiceSpec, and the server builds its table from the modules a profile
# enables.  The server runs the general checks of ISO 14229-1 §8.7 (SID
# supported, supported in session, authentication, security, length, sub-
# function supported / in session / security ...) from the spec *before* the
# handler runs, so a handler only does service-specific checks.
#
# Handler:   handler(srv, now, req, n, functional) -> int
#   req[0:n] is the request PDU (req[0] = SID), a read-only view: copy what
#   must outlive the call.  The handler writes a positive response into
#   srv.rsp (srv.rsp[0] = SID + 0x40) and returns:
#     n > 0         the positive response length;
#     -nrc          a negative response with that NRC (e.g. -NRC_ROOR);
#     RSP_PENDING   the work continues: the server sends 7F SID 78 before
#                   P2_server and again before each P2*_server, and calls
#                   spec.resume(srv, now) from on_timer until it returns a
#                   final value (n > 0 or -nrc).  resume's deadline comes from
#                   spec.deadline(srv) (None = call it on the next on_timer);
#     RSP_NONE      no response at all (the request was handled, nothing to
#                   say: e.g. a periodic-data request answered elsewhere).
#   A handler never raises because of the request: a malformed request is
#   -NRC_IMLOIF (0x13).
#
# Optional hooks of a spec (None if unused), called by the server:
#   on_session(srv, now, old, new)  every DiagnosticSessionControl transition
#                                   and S3 timeout (old may equal new)
#   on_reset(srv, now, kind)        ECUReset / power-up (kind = reset type;
#                                   0 = power-up)
#   deadline(srv) / on_timer(srv, now)  service timers (periodic data, ROE,
#                                   erase in progress ...)
#   pop_unsolicited(srv, out) -> n  PDUs the service sends on its own
#                                   (periodic 0x2A data, ROE event responses)
#
# Server state a handler may read (and change only through server methods):
#   srv.session          active diagnosticSessionType (0x01 default ...)
#   srv.level            unlocked SecurityAccess level (requestSeed value, 0 = locked)
#   srv.auth_role        authentication role/rights (0 = not authenticated)
#   srv.profile          the ECU profile (uds/server/profile.py)
#   srv.nvm              the non-volatile memory store (uds/server/nvm.py)
#   srv.rsp              the response buffer (bytearray, profile max PDU)
#
# Additions (optional, backwards compatible):
#   sessions=NON_DEFAULT     allowed in every session except defaultSession
#   sub_functions_for(profile) -> tuple of SubFunction: called once when a
#                            server is built; replaces sub_functions for that
#                            server (e.g. DSC: the profile's sessions)
#   auth                     False/0 = none; True = any authenticated role;
#                            an int = a mask of auth_role bits, any of which
#   srv.unsolicited_ready()  a service with pop_unsolicited calls this to
#                            queue EV_RESPONSE; the server then calls
#                            pop_unsolicited from pop_pdu once no request
#                            is in progress (ROE/periodic never interrupt a
#                            response, §10.9.1 l)
#   srv.conditions_nrc(now, req, n) -> 0 or NRC: the application's
#                            conditions hook (0x22 / 0x81-0xFF)
#   srv.set_session(now, new), srv.set_level(level): the only ways to change
#                            the session / security level
#   on_request(srv, now)     every request that reaches the server (before its
#                            checks, the functional 3E 80 keep-alive included):
#                            a timer "every request resets" (0x29's state)
#   on_build(srv)            called once when a server is built, after its
#                            service table: a module validates its profile
#                            section and sets up its per-server state
#   srv.execute(now, req, n) -> r  runs an internal request (ROE's service-
#                            ToRespondTo, the 0x84 inner request) through the
#                            general checks and its handler; nothing queued
#   srv.secure_diag          True while the 0x84 inner request runs
#                            (A_Mtype secureDiag, §16.1.3)
from diagbridge._compat import const

RSP_PENDING = const(-0x100)
RSP_NONE = const(-0x101)

# Access sets.  `sessions` is a tuple of diagnosticSessionType values in
# which the service (or sub-function) is allowed; ANY_SESSION allows all.
# `levels` is a tuple of SecurityAccess levels (odd requestSeed values) any
# of which unlocks it; () = no security needed.
ANY_SESSION = None
NON_DEFAULT = const(-2)


class SubFunction:
    """A supported sub-function (bits 6-0) with its own access and length."""

    def __init__(self, sf, sessions=ANY_SESSION, levels=(), auth=False, exact_len=-1, min_len=2):
        self.sf = sf
        self.sessions = sessions
        self.levels = levels
        self.auth = auth
        self.exact_len = exact_len      # -1: no fixed length (the handler checks)
        self.min_len = min_len


class ServiceSpec:
    def __init__(self, sid, handler, has_sf=False, min_len=1, sub_functions=None,
                 sessions=ANY_SESSION, levels=(), auth=False, resume=None,
                 on_session=None, on_reset=None, deadline=None, on_timer=None,
                 pop_unsolicited=None, sub_functions_for=None, on_build=None,
                 on_request=None):
        self.sid = sid
        self.handler = handler
        self.has_sf = has_sf
        self.min_len = min_len
        self.sub_functions = sub_functions or ()
        self.sessions = sessions
        self.levels = levels
        self.auth = auth
        self.resume = resume
        self.on_session = on_session
        self.on_reset = on_reset
        self.deadline = deadline
        self.on_timer = on_timer
        self.pop_unsolicited = pop_unsolicited
        self.sub_functions_for = sub_functions_for
        self.on_build = on_build
        self.on_request = on_request

    def sub_function(self, sf):
        for s in self.sub_functions:
            if s.sf == sf:
                return s
        return None
