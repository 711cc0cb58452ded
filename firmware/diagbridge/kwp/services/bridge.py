# What the KWP service modules share: a request scratch buffer per server
# (a KWP request rewritten in the ISO 14229-1 layout of the UDS handler that
# does the work), in-place response rewriting, and hooks that see KWP's
# default session (0x81) as the UDS handlers' defaultSession (0x01).
from diagbridge.uds.server.service import RSP_PENDING, RSP_NONE, NON_DEFAULT

UDS_DEFAULT = 0x01
_SCRATCH = 264              # a K-Line data field (255) plus the UDS layouts' extra bytes


def scratch(srv):
    """The server's UDS request buffer (allocated once, on first use)."""
    b = getattr(srv, "kwp_ureq", None)
    if b is None:
        b = bytearray(_SCRATCH)
        srv.kwp_ureq = b
    return b


def final(r):
    """True when a handler result is a positive response length."""
    return r > 0 and r != RSP_PENDING and r != RSP_NONE


def shift(rsp, r, drop, sid):
    """Drop `drop` bytes after the SId of the UDS response rsp[0:r] and put
    the KWP positive response SId; the new length."""
    for i in range(1, r - drop):
        rsp[i] = rsp[i + drop]
    rsp[0] = sid + 0x40
    return r - drop


def session_hook(fn):
    """A UDS on_session hook that takes KWP's default session as 0x01."""
    if fn is None:
        return None

    def hook(srv, now, old, new):
        d = srv.default_session
        fn(srv, now, UDS_DEFAULT if old == d else old, UDS_DEFAULT if new == d else new)
    return hook


def session_ok(srv, sessions):
    """An access set's sessions against the active one; "non_default" means
    outside KWP's standard session."""
    if sessions is None:
        return True
    if sessions == NON_DEFAULT:
        return srv.session != srv.default_session
    return srv.session in sessions
