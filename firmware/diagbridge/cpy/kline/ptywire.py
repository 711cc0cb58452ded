"""A K-Line of pseudo-terminals (POSIX): every byte one end writes reaches every
end, the writer included, as on the single wire (each transceiver hears its
own bytes).  Each end is a real tty that pyserial (or any serial program)
opens by name::

    with PtyWire(2) as wire:
        tester = KLineTesterPort(wire.names[0])
        ecu = KLineEcuRunner(wire.names[1], answer)

``echo=False`` forwards to the other ends only (a wire without echo).  A pty
carries no break and no baud pacing: bytes arrive as fast as they are
written, and ``break_condition`` changes nothing; ``bytes_seen`` counts what
crossed and, with ``record=True``, ``traffic`` holds it (in arrival order).
One relay thread; ``close()`` stops it and closes every pty.
"""
from __future__ import annotations

import os
import selectors
import threading
import tty
from typing import Any

__all__ = ["PtyWire"]


class PtyWire:
    def __init__(self, ends: int = 2, *, echo: bool = True, record: bool = False) -> None:
        if not isinstance(ends, int) or ends < 2:
            raise ValueError("ends")
        self.echo = echo
        self.bytes_seen = 0
        self.traffic = bytearray() if record else None
        self._masters = []
        self._slaves = []
        self.names = []
        for _ in range(ends):
            m, s = os.openpty()
            tty.setraw(m)
            tty.setraw(s)
            os.set_blocking(m, False)
            self._masters.append(m)
            self._slaves.append(s)       # kept open so a closing client never hangs the master up
            self.names.append(os.ttyname(s))
        self._r, self._w = os.pipe()
        self._running = True
        self._sel = selectors.DefaultSelector()
        for m in self._masters:
            self._sel.register(m, selectors.EVENT_READ)
        self._sel.register(self._r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="ptywire", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            for key, _ in self._sel.select(0.5):
                fd = key.fd
                if fd == self._r:
                    continue
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, OSError):
                    continue
                if not data:
                    continue
                self.bytes_seen += len(data)
                if self.traffic is not None:
                    self.traffic += data
                for m in self._masters:
                    if m != fd or self.echo:
                        try:
                            os.write(m, data)
                        except OSError:
                            pass

    def close(self) -> None:
        if not self._running:
            return
        self._running = False
        os.write(self._w, b"\0")
        self._thread.join(5.0)
        self._sel.close()
        for fd in self._masters + self._slaves + [self._r, self._w]:
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "PtyWire":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
