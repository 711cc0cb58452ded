"""The transport contract: bytes in, bytes out, nothing about the protocol."""
from __future__ import annotations


class Transport:
    """A bidirectional byte stream to one gateway.

    ``read`` is called from one reader thread and ``write`` from one writer
    thread at the same time; ``close`` may come from any thread and makes a
    blocked ``read`` return (or raise ``LinkError``) soon.
    """

    #: a human name for messages ("tcp://127.0.0.1:5555")
    url: str = ""

    def read(self, timeout_s: float) -> bytes:
        """Bytes that arrived within ``timeout_s`` (``b""`` if none).
        Raises ``LinkError`` when the stream ended or failed."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        """Send all of ``data``.  Raises ``LinkError`` when the stream failed."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the stream; idempotent."""
        raise NotImplementedError
