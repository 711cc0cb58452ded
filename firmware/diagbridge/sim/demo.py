# The simulated vehicle, printed.  Portable: run it on CPython with
# `python -m diagbridge.sim.demo` (./tools/demo does) or under MicroPython.
#
# What it shows:
#   CAN  (500 kbit/s, FD data phase 2 Mbit/s): a tester's functional request,
#        two ECUs answering at the same instant (arbitration by identifier),
#        then two showcase frames from a "showcase" node (a 29-bit frame and an
#        FD frame: frame formats, not requests or answers), each with its exact
#        wire time.
#   K-Line (10400 baud): the fast-init wake-up pattern, StartCommunication
#        with the tester's own echo, and the ECU's answer.
#   UDS over CAN-TP (500 kbit/s): the engine ECU of uds/server/profiles/engine.py
#        and a gearbox ECU, each an ecu.Ecu (CAN-TP channel + UdsServer) on
#        can0, as in the host demo (tools/demo); a tester reads the VIN (22 F1 90) and the DTCs
#        (19 02 FF) and sends a functional TesterPresent both ECUs answer.
from diagbridge.cantp import Channel, Mux, TpConfig, Address, ADDR_NORMAL_11, EV_RX_DONE
from diagbridge.ecu import Ecu
from diagbridge.uds.server.profile import Profile
from diagbridge.uds.server.profiles import engine
from diagbridge.sim.cantp_node import CanTpNode
from diagbridge.sim.ecu_node import EcuNode
from diagbridge.sim.kernel import Kernel
from diagbridge.sim.recorder import Recorder, REC_CAN
from diagbridge.sim.canbus import CanBus, can_flag_names
from diagbridge.sim.canframe import frame_bits
from diagbridge.sim.kline import KLine, kline_flag_names

_PAD = 0xCC


def _frame(*data):
    b = bytearray(8)
    for i in range(8):
        b[i] = data[i] if i < len(data) else _PAD
    return b


def _checksum(data):
    s = 0
    for b in data:
        s += b
    return s & 0xFF


def _flag_names(kind, flags):
    if kind == REC_CAN:
        return can_flag_names(kind, flags)
    return kline_flag_names(kind, flags)


def run_can(k, rec):
    bus = CanBus(k, "can0", bitrate=500000, data_bitrate=2000000, recorder=rec)
    tester = bus.attach("tester")
    engine = bus.attach("engine")
    gearbox = bus.attach("gearbox")
    showcase = bus.attach("showcase")       # frame formats on show: nobody answers them

    def answer(port, rsp_id):
        # Both ECUs answer DiagnosticSessionControl(extended) as soon as they
        # see it: their frames meet on the bus at the same instant.
        def on_rx(now, frame):
            if frame.can_id == 0x7DF and frame.data[1] == 0x10:
                port.send(rsp_id, _frame(0x06, 0x50, 0x03, 0x00, 0x32, 0x01, 0xF4))
        port.on_rx = on_rx
    answer(engine, 0x7E8)
    answer(gearbox, 0x7E9)
    tester.send(0x7DF, _frame(0x02, 0x10, 0x03))
    k.run_until_idle()
    # Showcase frames, not a conversation: a 29-bit normal-fixed frame and a
    # 64-byte FD frame with bit-rate switch.
    showcase.send(0x18DA10F1, _frame(0x03, 0x22, 0xF1, 0x90), extended=True)
    fd = bytearray(64)
    fd[0] = 0x00
    fd[1] = 62
    for i in range(2, 64):
        fd[i] = i
    showcase.send(0x7E8, fd, fd=True, brs=True)
    k.run_until_idle()
    return bus


def run_kline(k, rec):
    line = KLine(k, "kline", recorder=rec)
    tester = line.attach("tester")
    ecu = line.attach("ecu")
    request = bytearray((0xC1, 0x33, 0xF1, 0x81))
    request.append(_checksum(request))
    response = bytearray((0x83, 0xF1, 0x33, 0xC1, 0xEF, 0x8F))
    response.append(_checksum(response))
    got = bytearray()
    woken = [False]

    def ecu_line(now, level):
        if level == 1:
            woken[0] = True

    def ecu_byte(now, b, flags):
        # Its own echo comes back too: count only the tester's five bytes.
        if not woken[0] or len(got) >= len(request):
            return
        got.append(b)
        if len(got) == len(request):
            k.call_later(25000, lambda now, a: ecu.write_bytes(response))  # P2 = 25 ms

    ecu.on_line = ecu_line
    ecu.on_byte = ecu_byte
    # Fast init: TiniL = 25 ms low, then 25 ms high before the request
    # (TWuP = 50 ms); the tester paces its bytes by P4 = 5 ms.
    t0 = k.elapsed_us
    tester.drive_low(25000)
    for i in range(len(request)):
        k.call_at(t0 + 50000 + 5000 * i, lambda now, b: tester.write(b), request[i])
    k.run_until_idle()
    return line


def _hex(data, n=8):
    s = " ".join("%02X" % b for b in data[:n])
    return s + (" ... (%d bytes)" % len(data) if len(data) > n else "")


def _dtc_name(code):
    """A 3-byte DTC as the SAE J2012 text of its upper two bytes (P0101, U0100)."""
    hi = code >> 8
    return "PCBU"[hi >> 14] + "%X%03X" % ((hi >> 12) & 3, hi & 0xFFF)


def _meaning(rsp):
    if rsp[0] == 0x62 and len(rsp) == 20:
        return "VIN " + "".join(chr(b) for b in rsp[3:])
    if rsp[0] == 0x59 and len(rsp) >= 3:
        codes = []
        for i in range(3, len(rsp) - 3, 4):
            codes.append(_dtc_name((rsp[i] << 16) | (rsp[i + 1] << 8) | rsp[i + 2]))
        return "%d DTCs: %s" % (len(codes), " ".join(codes))
    if rsp[0] == 0x7E:
        return "TesterPresent"
    return ""


GEARBOX = {
    "name": "gearbox",
    "addresses": {"rx_id": 0x7E1, "tx_id": 0x7E9, "functional_id": 0x7DF},
    "modules": ["session", "data"],
    "dids": {0xF190: {"length": 17, "value": "W0L000043MB541326"},
             0xF187: {"length": 10, "value": "GBX0001234"}},
}


def run_uds(k, rec, out):
    """Tester, engine and gearbox on a 500 kbit/s bus; returns the log lines
    (request and response PDUs with the virtual time they completed)."""
    bus = CanBus(k, "can0", bitrate=500000, recorder=rec)     # the host demo's can0
    state = engine.EngineState()
    nodes = (
        EcuNode(k, bus.attach("engine"),
                Ecu(Profile(engine.profile(), sources=engine.sources(state)))),
        EcuNode(k, bus.attach("gearbox"), Ecu(GEARBOX)),
    )
    names = ("engine", "gearbox")
    chans = (Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E0, rx_id=0x7E8,
                                         func_tx_id=0x7DF)),
             Channel(TpConfig(), Address(ADDR_NORMAL_11, tx_id=0x7E1, rx_id=0x7E9)))
    answers = []

    def on_event(now, ev, ch):
        if ev == EV_RX_DONE:
            rsp = bytes(ch.payload[:ch.length])
            answers.append(rsp)
            line = "%s  %-7s -> tester   %s" % (_ts(k.elapsed_us), names[tester.tp.chan],
                                                _hex(rsp))
            m = _meaning(rsp)
            out(line + ("   " + m if m else ""))
    tester = CanTpNode(k, bus.attach("tester"), Mux(chans), on_event)
    t_start = k.elapsed_us

    def ask(req, functional=False, expect=1, what=""):
        n = len(answers) + expect
        out("%s  tester  -> %-7s  %s   %s" % (_ts(k.elapsed_us),
                                             "all" if functional else "engine",
                                             _hex(req), what))
        tester.send(chans[0], req, len(req), 1 if functional else 0)
        k.run_until(lambda: len(answers) >= n, 1000000)
        k.run_for(10000)                    # a pause between requests
    ask(b"\x22\xf1\x90", what="ReadDataByIdentifier VIN")
    ask(b"\x19\x02\xff", what="ReadDTCInformation reportDTCByStatusMask FF")
    ask(b"\x3e\x00", True, 2, what="TesterPresent (functional)")
    ask(b"\x3e\x80", True, 0, what="TesterPresent, suppressPosRsp: nobody answers")
    span = k.elapsed_us - t_start
    load = bus.busy_us * 1000 // span
    out("%d frames on can0 in %d us of virtual time (bus load %d.%d %%); ECUs served %s" % (
        bus.frames, span, load // 10, load % 10,
        ", ".join("%s %d" % (names[i], nodes[i].ecu.requests) for i in range(2))))
    return answers


def _ts(t):
    return "%4d.%06d" % (t // 1000000, t % 1000000)


def main(out=print):
    k = Kernel()
    rec = Recorder()
    out("diagbridge simulated vehicle (virtual time, starts 1 ms before the tick wrap)")
    out("")
    out("CAN 500 kbit/s (FD data phase 2 Mbit/s): time is the end of each frame; the "
        "\"showcase\" frames show formats (29-bit, FD), they answer nothing")
    run_can(k, rec)
    for r in rec.of(kind=REC_CAN):
        t, data, flags = r[0], r[6], r[7]
        nominal, fast = frame_bits(r[5], bool(flags & 1), bool(flags & 2), bool(flags & 4),
                                   data, len(data))
        line = rec.lines(_flag_names)[rec.records.index(r)]
        out("%s  (%d bits%s)" % (line, nominal + fast,
                                 (", %d in the data phase" % fast) if fast else ""))
    n_can = len(rec.records)
    out("")
    out("K-Line 10400 baud: fast-init wake-up, StartCommunication, echo and answer")
    k.call_later(10000, lambda now, a: None)       # a pause between the two scenes
    k.run_until_idle()
    run_kline(k, rec)
    for line in rec.lines(_flag_names)[n_can:]:
        out(line)
    out("")
    out("UDS over CAN-TP, 500 kbit/s: engine ECU (0x7E0/0x7E8) and gearbox (0x7E1/0x7E9)")
    k.call_later(10000, lambda now, a: None)
    k.run_for(10000)
    run_uds(k, rec, out)
    out("")
    out("%d records, %d us of virtual time, tick now %d" % (len(rec.records), k.elapsed_us, k.now))
    return rec


if __name__ == "__main__":
    main()
