"""diagbridge_host: the laptop side of diagbridge.

The host library talks to a gateway over the msgpack host link.  It imports
from the gateway package only the wire format and the result codes, so the
two sides share one definition of the protocol.

    import diagbridge_host
    with diagbridge_host.connect("tcp://gateway:5555", key=KEY, role="diagnostic") as conn:
        uds = conn.uds(bus=0, tx_id=0x7E0, rx_id=0x7E8)
        print(uds.read_data_by_identifier(0xF190))

    conn = await diagbridge_host.connect_async("sim://")      # asyncio

Plug-ins: ``can.Bus(interface="diagbridge", channel=URL)`` (python-can,
``diagbridge_host.can_plugin``) and ``diagbridge_host.udsoncan.GatewayConnection``.
"""

__version__ = "0.1.0"

from diagbridge_host.connection import connect, Connection  # noqa: E402
from diagbridge_host.aio import connect_async, AsyncConnection  # noqa: E402

__all__ = ["connect", "connect_async", "Connection", "AsyncConnection"]
