# A K-Line machine on a port of the simulated K-Line (sim/kline.py), as a
# K-Line adapter would carry it: a KwpEcu (kwp/ecu.py) built from a KWP
# profile, or any machine with the K-Line verbs (feed_byte, feed_line,
# on_timer, poll, pop_byte, pop_line, low_us, deadline).
#
#   k = Kernel(); line = KLine(k)
#   node = kwp_ecu_node(k, line, kwp_engine.make())      # the engine ECU at 0x10
#   node.ecu.srv ...                                     # its UDS-machinery server
#
# Every received byte (own echoes included) and line edge is fed in; after each
# input and timer the machine's events are drained (kept in `events` as
# (elapsed_us, ev, result, peer) unless keep_events is False, and passed to
# on_event(node, now, ev)), its line actions driven and its next byte written.
from diagbridge.kline.events import LINE_LOW
from diagbridge.kwp.ecu import KwpEcu


class KLineNode:
    def __init__(self, kernel, line, name, machine, on_event=None, keep_events=True):
        self.kernel = kernel
        self.m = machine
        self.name = name
        self.port = line.attach(name)
        self.port.on_byte = self._on_byte
        self.port.on_line = self._on_line
        self.on_event = on_event
        self.events = [] if keep_events else None
        kernel.add_node(self)

    def deadline(self):
        return self.m.deadline()

    def on_timer(self, now):
        self.m.on_timer(now)
        self.flush(now)

    def _on_byte(self, now, b, flags):
        self.m.feed_byte(now, b, flags)
        self.flush(now)

    def _on_line(self, now, level):
        self.m.feed_line(now, level)
        self.flush(now)

    def flush(self, now):
        m = self.m
        ev = m.poll()
        while ev:
            if self.events is not None:
                self.events.append((self.kernel.elapsed_us, ev, m.result, m.peer))
            if self.on_event is not None:
                self.on_event(self, now, ev)
            ev = m.poll()
        a = m.pop_line(now)
        while a:
            if a == LINE_LOW:
                self.port.drive_low(m.low_us)
            a = m.pop_line(now)
        b = m.pop_byte(now)
        if b >= 0:
            self.port.write(b)


def kwp_ecu_node(kernel, line, profile, name=None, nvm=None, link_cfg=None, on_event=None,
                 **kw):
    """A KwpEcu for `profile` on a new port of `line` (named after the
    profile unless `name`); its K-Line address and groups come from the
    profile (addresses.kline_address / kline_groups) unless link_cfg is given.
    The node's `ecu` is the KwpEcu; kw go to KwpEcu (srv_cfg, conditions ...)."""
    ecu = KwpEcu(profile, link_cfg=link_cfg, nvm=nvm, **kw)
    node = KLineNode(kernel, line, name if name is not None else ecu.profile.name, ecu,
                     on_event)
    node.ecu = ecu
    return node
