# The gateway's half of the host-link handshake: which roles it offers, the
# HELLO_ACK that says so, the checks of a HELLO and the mutual HMAC proof of
# AUTH (auth.py).  It keeps the nonces and the role asked for; the session
# machine (session.py) owns the states, sends the messages and counts.
#
#   host                                    gateway
#   HELLO {VERSION, ROLE, NONCE, CREDITS,  ─▶  read_hello(), HELLO_ACK (pack_ack),
#          MAX_FRAME, MAX_MESSAGE, KEYED}      verdict(): OK or ERROR(code, text);
#                                             frame, message: the sizes toward the host
#                                 role <= open_role and not (KEYED and a key for
#                                 the role): AUTH_OK {ROLE, CREDITS}
#                                 else:     ◀─ CHALLENGE {NONCE, ROLE} (challenge())
#   AUTH {MAC}                            ─▶  check(): AUTH_OK {ROLE, CREDITS, MAC}
#                                             or ERROR(LINK_AUTH_FAILED)
#                                 session_keys(): the frame-MAC keys (mac.py)
#
# Handshakes are rare: these methods allocate.
from diagbridge.codes import OK, LINK_MALFORMED, LINK_VERSION, LINK_REFUSED
from diagbridge.link import proto as P
from diagbridge.link.auth import (NonceSource, auth_mac, ct_equal, session_key, WHO_HOST,
                                  WHO_GATEWAY)
from diagbridge.link.msgpack import pack_int, pack_str, pack_map_header, pack_obj, pack_bool

_T_VERSION = b"link protocol version mismatch"
_T_ROLE = b"role not offered by this gateway"
_T_MALFORMED = b"malformed message"
_T_FRAME = b"max_frame below 64 or max_message below max_frame"


class Handshake:
    def __init__(self, cfg, sha256, urandom):
        self._cfg = cfg
        self._sha256 = sha256
        self._nonces = NonceSource(urandom)
        self.gw_nonce = None                # the open challenge (one answer each)
        self.want = P.ROLE_NONE             # the role asked for in the last good HELLO
        self.credits = 0                    # ... and the event credits it brought
        self.text = b""                     # why verdict() refused
        self.frame = cfg.max_frame          # frame size both ways (the smaller limit)
        self.message = cfg.max_message      # the largest message the host takes
        self._keyed = False                 # the host holds a key (HELLO KEYED)
        self._host_nonce = None
        self._ver = 0
        self._role = P.ROLE_NONE
        self._nonce = None
        self._offered = False
        self._login = None                  # (key, gw_nonce) of the login check() granted

    def offered(self, role):
        if not P.ROLE_MONITOR <= role <= P.ROLE_FULL:
            return False
        if role <= self._cfg.open_role:
            return True
        for k in self._cfg.keys:
            if k[0] >= role:
                return True
        return False

    def read_hello(self, body):
        """Take a HELLO body (decoded); False if it has no version at all."""
        ver = body.get(P.K_VERSION) if isinstance(body, dict) else None
        if not isinstance(ver, int):
            return False
        self._ver = ver
        self._role = body.get(P.K_ROLE, P.ROLE_FULL)
        self._nonce = body.get(P.K_NONCE)
        self.credits = body.get(P.K_CREDITS, 0)
        self._offered = self.offered(self._role) if isinstance(self._role, int) else False
        self._keyed = body.get(P.K_KEYED, False) is True
        c = self._cfg
        mf = body.get(P.K_MAX_FRAME, c.max_frame)
        mm = body.get(P.K_MAX_MESSAGE, c.max_message)
        if (isinstance(mf, int) and isinstance(mm, int) and not isinstance(mf, bool)
                and not isinstance(mm, bool) and P.MIN_FRAME <= mf and mf <= mm):
            self.frame = mf if mf < c.max_frame else c.max_frame
            self.message = mm if mm < c.max_message else c.max_message
        else:
            self.frame = -1                 # verdict() refuses it
            self.message = -1
        return True

    def sizes_apply(self):
        """The host speaks this version, so it takes frames of `frame` bytes
        and reassembles fragments (HELLO_ACK is already sent that way)."""
        return self._ver == P.LINK_PROTOCOL_VERSION and self.frame > 0

    def pack_ack(self, s, i):
        """HELLO_ACK's body at s[i:] for the last read_hello(); returns the end."""
        c = self._cfg
        auth = (self._ver == P.LINK_PROTOCOL_VERSION and self._offered
                and self._key_needed(self._role))
        i = pack_map_header(s, i, 9)
        s[i] = P.K_VERSION
        i = pack_int(s, i + 1, P.LINK_PROTOCOL_VERSION)
        s[i] = P.K_NAME
        i = pack_str(s, i + 1, c.name, len(c.name))
        s[i] = P.K_BUSES
        i = pack_obj(s, i + 1, c.buses)
        roles = [r for r in (P.ROLE_MONITOR, P.ROLE_DIAGNOSTIC, P.ROLE_FULL) if self.offered(r)]
        s[i] = P.K_ROLES
        i = pack_obj(s, i + 1, roles)
        s[i] = P.K_MAX_FRAME
        i = pack_int(s, i + 1, c.max_frame)
        s[i] = P.K_HEARTBEAT_MS
        i = pack_int(s, i + 1, c.heartbeat_ms)
        s[i] = P.K_TIMEOUT_MS
        i = pack_int(s, i + 1, c.link_timeout_ms)
        s[i] = P.K_MAX_MESSAGE
        i = pack_int(s, i + 1, c.max_message)
        s[i] = P.K_AUTH
        return pack_bool(s, i + 1, auth)

    def verdict(self):
        """OK (want and credits set), else LINK_VERSION, LINK_MALFORMED or
        LINK_REFUSED with the reason in text."""
        nonce = self._nonce
        credits = self.credits
        if self._ver != P.LINK_PROTOCOL_VERSION:
            self.text = _T_VERSION
            return LINK_VERSION
        if (not isinstance(nonce, bytes) or len(nonce) != P.NONCE_LEN
                or not isinstance(credits, int) or credits < 0):
            self.text = _T_MALFORMED
            return LINK_MALFORMED
        if self.frame < 0:
            self.text = _T_FRAME
            return LINK_MALFORMED
        if not self._offered:
            self.text = _T_ROLE
            return LINK_REFUSED
        self._host_nonce = nonce
        self.want = self._role
        return OK

    def needs_key(self):
        return self._key_needed(self.want)

    def _key_needed(self, role):
        """A role above open_role needs a key; so does one inside it when the
        host holds a key and the gateway has one for the role: a keyed host
        is always challenged, so it can tell its gateway from an impostor."""
        if role > self._cfg.open_role:
            return True
        if self._keyed:
            for k in self._cfg.keys:
                if k[0] >= role:
                    return True
        return False

    def challenge(self):
        """A fresh gateway nonce: CHALLENGE's body."""
        self.gw_nonce = self._nonces.next()
        return {P.K_NONCE: self.gw_nonce, P.K_ROLE: self.want}

    def check(self, body):
        """AUTH's body (decoded) against the open challenge, which it closes.
        The gateway's proof for AUTH_OK, or None if no key for the role fits."""
        mac = body.get(P.K_MAC) if isinstance(body, dict) else None
        gw_nonce = self.gw_nonce
        self.gw_nonce = None                # one answer per challenge
        key = None
        if isinstance(mac, bytes):
            for k in self._cfg.keys:        # every candidate key is tried: no early exit
                if k[0] >= self.want:
                    exp = auth_mac(self._sha256, k[1], WHO_HOST, P.LINK_PROTOCOL_VERSION,
                                   self.want, gw_nonce, self._host_nonce)
                    if ct_equal(exp, mac) and key is None:
                        key = k[1]
        if key is None:
            return None
        self._login = (key, gw_nonce)
        return auth_mac(self._sha256, key, WHO_GATEWAY, P.LINK_PROTOCOL_VERSION,
                        self.want, gw_nonce, self._host_nonce)

    def session_keys(self):
        """(tx, rx) frame-MAC keys of the login check() just granted: the
        gateway's own and the host's; the login key is forgotten here."""
        key, gw_nonce = self._login
        self._login = None
        v = P.LINK_PROTOCOL_VERSION
        return (session_key(self._sha256, key, WHO_GATEWAY, v, self.want, gw_nonce,
                            self._host_nonce),
                session_key(self._sha256, key, WHO_HOST, v, self.want, gw_nonce,
                            self._host_nonce))
