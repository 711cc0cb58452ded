"""The events ``HostLink.next_event()`` returns (``diagbridge_host.link``
re-exports them): the handshake's ``LinkUp`` with the gateway's ``GatewayInfo``,
a request's ``Response`` or ``RequestFailed``, a ``GatewayEvent`` (MSG_EV_*),
``Dropped`` reports, a ``GatewayError`` not tied to a request, and ``LinkLost``.

These are the link layer's records; ``diagbridge_host.events`` turns gateway
events into the application's objects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from diagbridge_host.errors import LinkError, error_for


@dataclass
class GatewayInfo:
    version: int
    name: str
    buses: list
    roles: list
    max_frame: int
    heartbeat_ms: int
    timeout_ms: int
    max_message: int = 0            # the longest message it reassembles (0: max_frame)


@dataclass
class LinkUp:
    role: int
    gateway: GatewayInfo


@dataclass
class Response:
    req_id: int
    kind: int                       # the request's MSG_REQ_* kind
    result: int                     # a diagbridge.codes result (0 = OK)
    data: Optional[bytes]
    body: dict


@dataclass
class RequestFailed:
    """The gateway answered a request with ERROR (refused, unsupported ...)."""
    req_id: int
    kind: int
    code: int
    text: str

    def exception(self) -> LinkError:
        return error_for(self.code, self.text)


@dataclass
class GatewayEvent:
    kind: int                       # MSG_EV_*
    seq: int
    body: dict


@dataclass
class Dropped:
    """The gateway's queue overflowed: `counts` events of each kind never left it."""
    counts: dict
    total: int


@dataclass
class GatewayError:
    """An ERROR not tied to a request (e.g. a malformed message of ours)."""
    code: int
    text: str


@dataclass
class LinkLost:
    reason: str
    code: int = 0                   # why, as a code: LINK_TIMEOUT (silent), LINK_BYE or the
                                    # gateway's BYE code, LINK_BAD_MAC (a frame failed its MAC)
