"""CAN-TP (ISO 15765-2) over python-can, can-isotp-style (CPython).

``blocking`` (one I/O thread per bus) and ``aio`` (one task per bus) are two
fronts on the same runner body (``engine``); ``base`` holds what they share
(keywords, errors, the node contract) and ``read`` how each bus is waited on.
The usual names are re-exported here::

    from diagbridge.cpy.cantp import open_channel, TransportError
"""
from diagbridge.cpy.cantp.base import TransportError, TransportTimeout
from diagbridge.cpy.cantp.blocking import CanTpBus, CanTpChannel, open_channel
from diagbridge.cpy.cantp.aio import AsyncCanTpBus, AsyncCanTpChannel, open_async_channel

__all__ = ["TransportError", "TransportTimeout", "CanTpBus", "CanTpChannel", "open_channel",
           "AsyncCanTpBus", "AsyncCanTpChannel", "open_async_channel"]
