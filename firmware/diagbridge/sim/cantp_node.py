# Binds a CAN-TP Channel (or a Mux of channels) to a virtual CAN port: the
# simulation's adapter, as thin as the CPython and MicroPython ones.
#
#   port.on_rx  -> tp.feed_frame(now, id, data, n, flags)
#   port.on_tx  -> tp.confirm(now, result == L_OK, tag)   (N_As / N_Ar)
#   deadline()  -> the kernel calls on_timer(now) -> tp.on_timer(now)
# and after every input: events go to on_event(now, ev, channel), then every
# frame the core has ready goes to port.send().  Each SimFrame carries the
# tx_tag the core gave it, so a confirmation reaches the right machine.
from diagbridge.codes import L_OK
from diagbridge.can import FLAG_EXT, FLAG_FD, FLAG_BRS
from diagbridge.cantp.mux import Mux


class CanTpNode:
    def __init__(self, kernel, port, tp, on_event=None):
        self.kernel = kernel
        self.port = port
        self.tp = tp
        self.on_event = on_event        # callable(now, ev, channel) or None
        self._mux = isinstance(tp, Mux)
        self._out = bytearray(64)
        self._kick = None
        port.on_rx = self._on_rx
        port.on_tx = self._on_tx
        kernel.add_node(self)

    # ---- kernel node ------------------------------------------------------
    def deadline(self):
        return self.tp.deadline()

    def on_timer(self, now):
        self.tp.on_timer(now)
        self.flush(now)

    # ---- application ------------------------------------------------------
    def send(self, channel, data, n=None, ta_type=0):
        """channel.request() now, then flush in a kernel call at this instant."""
        if n is None:
            n = len(data)
        channel.request(self.kernel.now, data, n, ta_type)
        self.kick()

    def kick(self):
        """Flush at the current instant (after the caller returns)."""
        if self._kick is None:
            self._kick = self.kernel.call_later(0, self._kicked)

    def _kicked(self, now, _arg):
        self._kick = None
        self.flush(now)

    # ---- wire -------------------------------------------------------------
    def _on_rx(self, now, frame):
        flags = 0
        if frame.extended:
            flags |= FLAG_EXT
        if frame.fd:
            flags |= FLAG_FD
            if frame.brs:
                flags |= FLAG_BRS
        self.tp.feed_frame(now, frame.can_id, frame.data, len(frame.data), flags)
        self.flush(now)

    def _on_tx(self, now, frame, result):
        tag = getattr(frame, "tp_tag", None)
        if tag is not None:
            self.tp.confirm(now, result == L_OK, tag)
        self.flush(now)

    def flush(self, now):
        tp = self.tp
        ev = tp.poll()
        while ev:
            if self.on_event is not None:
                self.on_event(now, ev, tp.channel if self._mux else tp)
            ev = tp.poll()
        out = self._out
        n = tp.pop_frame(out)
        while n:
            fl = tp.tx_flags
            frame = self.port.send(tp.tx_id, out, n, bool(fl & FLAG_EXT), bool(fl & FLAG_FD),
                                   bool(fl & FLAG_BRS))
            frame.tp_tag = tp.tx_tag
            n = tp.pop_frame(out)
