"""diagbridge_host: the laptop side of diagbridge.

The host library talks to a gateway over the msgpack host link.  It imports
from the gateway package only the wire format and the result codes, so the
two sides share one definition of the protocol.
"""

__version__ = "0.1.0"
