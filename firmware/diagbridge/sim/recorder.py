# A recorder of everything that crossed a virtual wire, with timestamps.
#
# Records are plain tuples so that two runs can be compared with ==:
#   (elapsed_us, now, wire, kind, src, ident, data, flags)
# kind is one of the REC_* strings; data is bytes; ident is the CAN id, or the
# pulse length in us for a K-Line pulse, else 0.

REC_CAN = "can"          # a CAN frame delivered (or destroyed: see flags)
REC_BYTE = "byte"        # a K-Line byte on the wire
REC_LOW = "low"          # a K-Line low pulse (ident = duration_us)
REC_NOTE = "note"        # free text from a scenario


class Recorder:
    def __init__(self):
        self.records = []

    def record(self, elapsed_us, now, wire, kind, src, ident, data, flags):
        self.records.append((elapsed_us, now, wire, kind, src, ident, bytes(data), flags))

    def note(self, elapsed_us, now, text):
        self.records.append((elapsed_us, now, "-", REC_NOTE, text, 0, b"", 0))

    def clear(self):
        self.records = []

    def of(self, wire=None, kind=None):
        return [r for r in self.records
                if (wire is None or r[2] == wire) and (kind is None or r[3] == kind)]

    def lines(self, flag_names=None):
        """Human-readable trace lines (seconds since start, wire, source, content)."""
        out = []
        for t, now, wire, kind, src, ident, data, flags in self.records:
            ts = "%4d.%06d" % (t // 1000000, t % 1000000)
            if kind == REC_NOTE:
                out.append("%s  %s" % (ts, src))
                continue
            if kind == REC_CAN:
                head = ("%08X" % ident) if ident > 0x7FF else ("%03X" % ident)
                body = "%s [%d] %s" % (head, len(data), _hex(data))
            elif kind == REC_BYTE:
                body = "%02X" % data[0]
            else:
                body = "low %d us" % ident
            fl = ""
            if flags and flag_names is not None:
                fl = " " + flag_names(kind, flags)
            elif flags:
                fl = " flags=0x%X" % flags
            out.append("%s  %-6s %-8s %s%s" % (ts, wire, src, body, fl))
        return out


def _hex(data):
    return " ".join("%02X" % b for b in data)
