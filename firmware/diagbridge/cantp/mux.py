# Many CAN-TP channels on one CAN bus: a gateway talking to a dozen ECUs.
#
# feed_frame() hands a frame to every channel whose address matches (several
# ECU models may share a functional id); poll() and pop_frame() take turns
# over the channels so that one busy link cannot starve the others;
# deadline() is the earliest of all.  tx_tag = channel index * 2 + the
# channel's own tag, so confirm() reaches the right machine.
from diagbridge.clock import ticks_less


class Mux:
    def __init__(self, channels):
        self.channels = tuple(channels)
        self._n = len(self.channels)
        self._ev_next = 0
        self._tx_next = 0
        # details of the last poll() (see Channel) and of the last pop_frame()
        self.chan = -1
        self.channel = None
        self.tx_id = 0
        self.tx_flags = 0
        self.tx_tag = 0

    def feed_frame(self, now, can_id, data, n, flags=0):
        """Returns the number of channels that took the frame."""
        chans = self.channels
        hits = 0
        for i in range(self._n):
            if chans[i].feed_frame(now, can_id, data, n, flags):
                hits += 1
        return hits

    def on_timer(self, now):
        chans = self.channels
        for i in range(self._n):
            chans[i].on_timer(now)

    def confirm(self, now, ok, tag):
        self.channels[tag >> 1].confirm(now, ok, tag & 1)

    def poll(self):
        """Next event of any channel; chan/channel tell whose (details on it)."""
        chans = self.channels
        n = self._n
        i = self._ev_next
        for _ in range(n):
            ch = chans[i]
            ev = ch.poll()
            if ev:
                self.chan = i
                self.channel = ch
                self._ev_next = i + 1 if i + 1 < n else 0
                return ev
            i = i + 1 if i + 1 < n else 0
        return 0

    def pop_frame(self, out):
        chans = self.channels
        n = self._n
        i = self._tx_next
        for _ in range(n):
            ch = chans[i]
            k = ch.pop_frame(out)
            j = i
            i = i + 1 if i + 1 < n else 0
            if k:
                self.tx_id = ch.tx_id
                self.tx_flags = ch.tx_flags
                self.tx_tag = j * 2 + ch.tx_tag
                self._tx_next = i
                return k
        return 0

    def deadline(self):
        chans = self.channels
        at = None
        for i in range(self._n):
            d = chans[i].deadline()
            if d is not None and (at is None or ticks_less(d, at)):
                at = d
        return at
