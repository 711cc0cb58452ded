"""Request bodies of the gateway services and what their answers mean, written
once for the blocking ``Connection`` and the asyncio ``AsyncConnection``:
each builder returns ``(kind, body)``, each reader takes a RESPONSE body.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Union

from diagbridge.codes import OK
from diagbridge.link import proto as P

from diagbridge_host import events as E
from diagbridge_host.errors import UsageError

__all__ = ["request_body", "endpoint", "GatewayStatus", "status_request", "read_status",
           "can_listen_request", "can_send_request", "read_can_send", "channel_request",
           "ecu_sim_request", "route_request"]


def request_body(**keys: Any) -> dict:
    """{K_<NAME>: value} from keyword names (``bus=0`` -> ``{K_BUS: 0}``);
    None values are left out."""
    out = {}
    for k, v in keys.items():
        if v is not None:
            out[getattr(P, "K_" + k.upper())] = v
    return out


@dataclass
class GatewayStatus:
    """REQ_STATUS: counters of the gateway (see diagbridge.link.proto)."""
    uptime_ms: int
    stats: dict
    bus_stats: list
    dropped: dict                   # event kind name -> dropped since boot
    channels: list
    ecus: list
    routes: list
    jobs: list
    body: dict
    hosts: list = field(default_factory=list)  # every connected host: slot, name, role,
                                               # drops, locks; "you" marks this one


def status_request() -> tuple:
    return P.MSG_REQ_STATUS, {}


def read_status(b: dict) -> GatewayStatus:
    g = b.get
    return GatewayStatus(g(P.K_UPTIME_MS, 0), dict(g(P.K_STATS) or {}),
                         list(g(P.K_BUS_STATS) or []),
                         {E.kind_name(int(k)): v for k, v in (g(P.K_COUNTS) or {}).items()},
                         list(g(P.K_CHANNELS) or []), list(g(P.K_ECUS) or []),
                         list(g(P.K_ROUTES) or []), list(g(P.K_JOBS) or []), b,
                         [dict(h) for h in (g(P.K_HOSTS) or []) if isinstance(h, dict)])


def can_listen_request(bus: int, on: bool = True,
                       filters: Optional[Iterable[tuple]] = None,
                       echo: bool = False) -> tuple:
    body = request_body(bus=bus, on=bool(on))
    if on:
        if filters:
            body[P.K_FILTERS] = [[int(i), int(m)] for i, m in filters]
        body[P.K_ECHO] = bool(echo)
    return P.MSG_REQ_CAN_LISTEN, body


def can_send_request(bus: int, arbitration_id: int, data: bytes, *,
                     extended: Optional[bool] = None, fd: bool = False,
                     brs: bool = False) -> tuple:
    if extended is None:
        extended = arbitration_id > 0x7FF
    flags = (P.CAN_EXT if extended else 0) | (P.CAN_FD if fd else 0) | \
            (P.CAN_BRS if brs else 0)
    return P.MSG_REQ_CAN_SEND, request_body(bus=bus, id=arbitration_id, flags=flags,
                                            data=bytes(data))


def read_can_send(b: dict) -> int:
    return b.get(P.K_RESULT, OK)


def channel_request(channel: int, endpoint: Optional[dict] = None,
                    uds_config: Optional[dict] = None) -> tuple:
    """REQ_CHANNEL on (with an ``endpoint()``) or off (endpoint None)."""
    if endpoint is None:
        return P.MSG_REQ_CHANNEL, request_body(channel=channel, on=False)
    body = dict(endpoint)
    body.update(request_body(channel=channel, on=True, uds=uds_config))
    return P.MSG_REQ_CHANNEL, body


def endpoint(bus: int = 0, addressing: Union[str, int] = "normal_11", *,
             tx_id: Optional[int] = None, rx_id: Optional[int] = None,
             ta: Optional[int] = None, sa: Optional[int] = None, ae: Optional[int] = None,
             func_tx_id: Optional[int] = None, func_rx_id: Optional[int] = None,
             func_ta: Optional[int] = None, priority: Optional[int] = None,
             tp: Optional[dict] = None) -> dict:
    """An endpoint spec (where a diagnostic endpoint lives, proto.py "EP"):
    ``addressing`` "normal_11", "normal_29", "normal_fixed", "extended_11",
    "extended_29", "mixed_11", "mixed_29" (or ADDRESSING_*); ids as this
    endpoint sends (tx) and receives (rx); ``tp`` TpConfig fields."""
    if isinstance(addressing, str):
        code = getattr(P, "ADDRESSING_" + addressing.upper(), None)
        if code is None:
            raise UsageError("unknown addressing %r" % addressing)
        addressing = code
    body = {P.K_TRANSPORT: P.TRANSPORT_CANTP, P.K_BUS: bus, P.K_ADDRESSING: addressing}
    for k, v in (("tx_id", tx_id), ("rx_id", rx_id), ("ta", ta), ("sa", sa), ("ae", ae),
                 ("func_tx_id", func_tx_id), ("func_rx_id", func_rx_id),
                 ("func_ta", func_ta), ("priority", priority), ("tp", tp)):
        if v is not None:
            body[getattr(P, "K_" + k.upper())] = v
    return body


def ecu_sim_request(ecu: int, profile: Union[str, dict], on: bool = True,
                    **endpoint_keys: Any) -> tuple:
    body = endpoint(**endpoint_keys) if endpoint_keys else {}
    body.update(request_body(ecu=ecu, on=bool(on), profile=profile if on else None))
    return P.MSG_REQ_ECU_SIM, body


def route_request(route: int, tester: dict, target: dict, *, on: bool = True,
                  uds_config: Optional[dict] = None, pending_ms: Optional[int] = None,
                  period_ms: Optional[int] = None) -> tuple:
    body = request_body(route=route, on=bool(on), uds=uds_config, pending_ms=pending_ms,
                        period_ms=period_ms)
    if on:
        body[P.K_TESTER] = tester
        body[P.K_TARGET] = target
    return P.MSG_REQ_ROUTE, body
