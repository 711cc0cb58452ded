# Binds an ecu.Ecu (CAN-TP channel + UDS server) to a virtual CAN port.
#
# An Ecu has the frame-level verbs of a CAN-TP Channel, so the binding is
# the CAN-TP node's: received frames -> ecu.feed_frame, confirmations ->
# ecu.confirm (N_As / N_Ar), the kernel calls on_timer at ecu.deadline()
# (P2 / P2* 0x78 cadence, S3, routines, CAN-TP timers), and every frame the
# Ecu has ready goes to port.send().  Any number of these share one bus.
#
#   k = Kernel(); bus = CanBus(k, "can0", bitrate=500000)
#   node = EcuNode(k, bus.attach("engine"), Ecu(profile))
#   ... node.events: [(elapsed_us, ev), ...] of the Ecu's events
from diagbridge.sim.cantp_node import CanTpNode


class EcuNode(CanTpNode):
    """An ECU on the virtual bus.  on_event(now, ev, ecu) is called for each
    of the Ecu's events; they are also kept in `events` as (elapsed_us, ev)
    unless keep_events is False."""

    def __init__(self, kernel, port, ecu, on_event=None, keep_events=True):
        self.ecu = ecu
        self.events = [] if keep_events else None
        self._user_event = on_event
        CanTpNode.__init__(self, kernel, port, ecu, self._event)

    def _event(self, now, ev, ecu):
        if self.events is not None:
            self.events.append((self.kernel.elapsed_us, ev))
        if self._user_event is not None:
            self._user_event(now, ev, ecu)

    def send(self, channel, data, n=None, ta_type=0):
        raise NotImplementedError("an ECU answers; it does not send requests")
