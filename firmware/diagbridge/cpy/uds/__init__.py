"""UDS tester facades over a CAN-TP channel (CPython): ``client`` (blocking)
and ``aio`` (asyncio) drive the same core machines.  The usual names::

    from diagbridge.cpy.uds import UdsClient, AsyncUdsClient
"""
from diagbridge.cpy.uds.client import (UdsClient, Response, FlashReport, NegativeResponseError,
                                       UdsTimeout, client_config)
from diagbridge.cpy.uds.aio import AsyncUdsClient

__all__ = ["UdsClient", "AsyncUdsClient", "Response", "FlashReport", "NegativeResponseError",
           "UdsTimeout", "client_config"]
