"""Failed host-link logins: exponential back-off per peer address (CPython
daemon).

The portable session (``diagbridge.link.session``) judges a login and counts
the failures (STATUS ``auth_failures``); it does not know who is on the other
end.  The daemon's TCP port does, so it keeps this table: after the n-th
failed login from an address, the next login from that address is not judged
before ``min(cap_s, base_s * 2**n)`` seconds have passed (0.2 s, 0.4 s, 0.8 s,
... 30 s with the defaults); a connection from it during that time is refused
with the standard refusal (an ERROR frame, then the connection is closed) and
counted.  An address that has not failed for ``forget_s`` after its back-off
ended starts again from zero.

IPv4 addresses count one by one, IPv6 addresses by their /64 prefix (what
one machine gets).  The table is bounded (``max_peers``): when it is full
the entry whose back-off ended longest ago gives way.

Time is seconds from an injected monotonic clock (``t`` arguments), so tests
run it on a fake clock.
"""
from __future__ import annotations

import ipaddress

__all__ = ["LoginBackoff", "peer_key"]


def peer_key(ip: str) -> str:
    """The address a back-off applies to: the IPv4 address itself (also when
    written IPv4-mapped), the /64 network of an IPv6 address."""
    try:
        a = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(a, ipaddress.IPv6Address):
        if a.ipv4_mapped is not None:
            return str(a.ipv4_mapped)
        return str(ipaddress.IPv6Network((a, 64), strict=False))
    return str(a)


class LoginBackoff:
    """Per-peer back-off after failed logins; see the module docstring."""

    def __init__(self, base_s: float = 0.1, cap_s: float = 30.0, forget_s: float = 600.0,
                 max_peers: int = 4096) -> None:
        if base_s < 0 or cap_s < base_s or forget_s < 0 or max_peers < 1:
            raise ValueError("LoginBackoff: need 0 <= base_s <= cap_s, forget_s >= 0, "
                             "max_peers >= 1")
        self.base_s = base_s
        self.cap_s = cap_s
        self.forget_s = forget_s
        self.max_peers = max_peers
        self._peers: dict[str, list] = {}       # key -> [failures, until]
        self.failures = 0                       # failed logins seen, all peers
        self.refused = 0                        # connections refused during a back-off

    def __len__(self) -> int:
        return len(self._peers)

    def delay_s(self, failures: int) -> float:
        """The back-off after ``failures`` failed logins in a row."""
        if failures <= 0:
            return 0.0
        return min(self.cap_s, self.base_s * (1 << min(failures, 40)))

    def _entry(self, key: str, t: float) -> "list | None":
        e = self._peers.get(key)
        if e is not None and t >= e[1] + self.forget_s:
            del self._peers[key]
            return None
        return e

    def wait_s(self, ip: str, t: float) -> float:
        """Seconds before a login from ``ip`` is judged again (0.0: now)."""
        e = self._entry(peer_key(ip), t)
        return 0.0 if e is None else max(0.0, e[1] - t)

    def failed_logins(self, ip: str, t: float) -> int:
        """Failed logins from ``ip`` that still count."""
        e = self._entry(peer_key(ip), t)
        return 0 if e is None else e[0]

    def refuse(self, ip: str, t: float) -> float:
        """A connection from ``ip`` arrived: the seconds it must still wait
        (counted in ``refused`` when > 0), or 0.0 when its login may be judged."""
        w = self.wait_s(ip, t)
        if w > 0.0:
            self.refused += 1
        return w

    def failed(self, ip: str, t: float) -> "tuple[int, float]":
        """A login from ``ip`` failed at ``t``: (its failures in a row, the
        seconds before its next login is judged)."""
        key = peer_key(ip)
        e = self._entry(key, t)
        if e is None:
            if len(self._peers) >= self.max_peers:
                self._evict(t)
            e = self._peers[key] = [0, t]
        e[0] += 1
        d = self.delay_s(e[0])
        e[1] = t + d
        self.failures += 1
        return e[0], d

    def _evict(self, t: float) -> None:
        gone = [k for k, e in self._peers.items() if t >= e[1] + self.forget_s]
        for k in gone:
            del self._peers[k]
        if len(self._peers) >= self.max_peers:
            oldest = min(self._peers, key=lambda k: self._peers[k][1])
            del self._peers[oldest]
