# ECUs (ecu.Ecu) on the virtual 500 kbit/s CAN bus: UDS over CAN-TP with
# every frame at its exact wire time.  The ECU answers in zero processing
# time, so each frame starts the instant the previous one ended.
from diagbridge.cantp import Channel, Mux, TpConfig, Address, ADDR_NORMAL_11, EV_RX_DONE
from diagbridge.uds.server.core import EV_SESSION_CHANGED
from diagbridge.ecu import Ecu, EV_ECU_RESET
from diagbridge.sim.kernel import Kernel
from diagbridge.sim.canbus import CanBus
from diagbridge.sim.canframe import frame_time_ns
from diagbridge.sim.recorder import Recorder
from diagbridge.sim.cantp_node import CanTpNode
from diagbridge.sim.ecu_node import EcuNode
from ecu_support import profile_dict, VIN, big_value

BITRATE = 500000


def _us(rec):
    """Wire time of a recorded frame (its slot), rounded up to the us."""
    data = rec[6]
    return -(-frame_time_ns(BITRATE, 2000000, rec[5], rec[5] > 0x7FF, False, False,
                            data, len(data)) // 1000)


class Bench:
    """A tester (a Mux of one channel per ECU, functional id 0x7DF) and n ECUs
    at 0x7E0+i / 0x7E8+i on one bus, with a recorder."""

    def __init__(self, n=1, profiles=None, tester_cfg=None, reset_ms=0):
        self.k = Kernel()
        self.rec = Recorder()
        self.bus = CanBus(self.k, "can0", bitrate=BITRATE, recorder=self.rec)
        self.ecus = []
        chans = []
        for i in range(n):
            p = profiles[i] if profiles else profile_dict(0x7E0 + i, 0x7E8 + i, name="ecu%d" % i)
            self.ecus.append(EcuNode(self.k, self.bus.attach("ecu%d" % i),
                                     Ecu(p, reset_ms=reset_ms)))
            chans.append(Channel(tester_cfg or TpConfig(),
                                 Address(ADDR_NORMAL_11, tx_id=0x7E0 + i, rx_id=0x7E8 + i,
                                         func_tx_id=0x7DF)))
        self.rx = []        # (elapsed_us, ecu index, bytes)
        self.tester = CanTpNode(self.k, self.bus.attach("tester"), Mux(chans), self._ev)

    def _ev(self, now, ev, ch):
        if ev == EV_RX_DONE:
            self.rx.append((self.k.elapsed_us, self.tester.tp.chan,
                            bytes(ch.payload[:ch.length])))

    def send(self, hexs, i=0, functional=False):
        data = bytes.fromhex(hexs)
        self.tester.send(self.tester.tp.channels[i], data, len(data), 1 if functional else 0)

    def frames(self):
        return self.rec.records

    def check_back_to_back(self, first=0):
        """Every frame from `first` on started the instant the one before ended."""
        r = self.rec.records
        for i in range(first + 1, len(r)):
            assert r[i][0] == r[i - 1][0] + _us(r[i]), i


def test_read_vin_round_trip_is_exact():
    b = Bench()
    b.send("22F190")
    b.k.run_until_idle()
    r = b.frames()
    assert [(x[4], x[6][0] & 0xF0) for x in r] == [("tester", 0x00), ("ecu0", 0x10),
                                                   ("tester", 0x30), ("ecu0", 0x20),
                                                   ("ecu0", 0x20)]
    assert r[0][0] == _us(r[0])                     # the request's slot from t = 0
    b.check_back_to_back()
    assert b.rx == [(r[-1][0], 0, b"\x62\xf1\x90" + VIN)]
    assert r[-1][0] == 1164                         # SF + FF + FC + 2 CF at 500 kbit/s


def test_4000_byte_response_at_the_physical_limit():
    b = Bench(tester_cfg=TpConfig(block_size=8, stmin_us=0))
    b.send("220F00")
    b.k.run_until_idle()
    r = b.frames()
    assert b.rx[-1][2] == b"\x62\x0f\x00" + big_value()
    cfs = [x for x in r if x[4] == "ecu0" and x[6][0] & 0xF0 == 0x20]
    fcs = [x for x in r if x[4] == "tester" and x[6][0] & 0xF0 == 0x30]
    assert len(cfs) == 571 and len(fcs) == 72 and len(r) == 1 + 1 + 72 + 571
    b.check_back_to_back()                          # not one idle bit time
    assert b.rx[-1][0] == r[-1][0] == b.bus.busy_us
    # every frame of the ECU is 8 bytes at 500 kbit/s: 3994 data bytes in
    # about 0.15 s, ~26 kB/s: the physical limit with BS 8 (no gap anywhere)
    assert 140000 < r[-1][0] < 160000


def test_response_pending_reaches_the_tester_at_p2_and_p2star():
    p = profile_dict()
    p["routines"][0x0203]["duration_ms"] = 12000
    b = Bench(profiles=[p])
    b.send("1003")
    b.k.run_for(10000)
    b.rx = []
    n0 = len(b.frames())
    b.send("31010203" + "44" + "00010000" + "00000010")
    b.k.run_until_idle()
    r = b.frames()[n0:]
    # the 13-byte request: FF, FC, CF; the server has it when the CF ends
    assert [x[6][0] & 0xF0 for x in r[:3]] == [0x10, 0x30, 0x20]
    t_req = r[2][0]
    r = r[2:]
    got = [(x[0] - t_req, x[6][:4]) for x in r[1:]]
    # 7F 31 78 is queued 10 ms (pending_margin_ms) before P2 = 50 ms and
    # then before each P2* = 5000 ms; the status comes after the 12 s run
    assert got == [(40000 + _us(r[1]), b"\x03\x7f\x31\x78"),
                   (5030000 + _us(r[2]), b"\x03\x7f\x31\x78"),
                   (10020000 + _us(r[3]), b"\x03\x7f\x31\x78"),
                   (12000000 + _us(r[4]), b"\x06\x71\x01\x02")]
    assert [x[2][:3] for x in b.rx] == [b"\x7f\x31\x78"] * 3 + [b"\x71\x01\x02"]


def test_functional_tester_present_keeps_three_ecus_in_session():
    b = Bench(3)
    b.send("1003", functional=True)
    b.k.run_for(10000)
    r = b.frames()
    # one request, three answers in arbitration order, back to back
    assert [x[5] for x in r] == [0x7DF, 0x7E8, 0x7E9, 0x7EA]
    b.check_back_to_back()
    assert sorted(x[1] for x in b.rx) == [0, 1, 2]
    assert all(x[2] == bytes.fromhex("5003003201f4") for x in b.rx)
    # functional 3E 80 every 2 s for 20 s: never answered, S3 never expires
    n0 = len(r)
    for _ in range(10):
        b.k.run_for(2000000)
        b.send("3E80", functional=True)
    b.k.run_until_idle(1000)
    r = b.frames()
    assert [x[4] for x in r[n0:]] == ["tester"] * 10
    assert all(e.ecu.srv.session == 3 for e in b.ecus)
    last = r[-1][0]
    b.k.run_until_idle()
    # then each returns to the default session 5000 ms after the last one
    for e in b.ecus:
        assert e.events[-1] == (last + 5000000, EV_SESSION_CHANGED)
        assert e.ecu.srv.session == 1


def test_s3_timeout_in_virtual_time():
    b = Bench()
    b.send("1002")
    b.k.run_until_idle()
    t_req = b.frames()[0][0]
    ecu = b.ecus[0]
    assert ecu.events == [(t_req, EV_SESSION_CHANGED), (t_req + 5000000, EV_SESSION_CHANGED)]
    assert b.k.elapsed_us == t_req + 5000000


def test_ecu_reset_on_the_bus_with_boot_time():
    b = Bench(reset_ms=300)
    b.send("1003")
    b.k.run_until_idle(1000)
    b.send("1101")
    b.k.run_until_idle(10000)
    r = b.frames()
    t_rsp = r[-1][0]
    assert r[-1][6][:3] == b"\x02\x51\x01"
    ecu = b.ecus[0]
    assert ecu.events[-1] == (t_rsp, EV_ECU_RESET) and ecu.ecu.srv.session == 1
    n0 = len(r)
    b.send("3E00")                                  # during boot: no answer
    b.k.run_for(400000)
    assert [x[4] for x in b.frames()[n0:]] == ["tester"]
    b.send("3E00")                                  # booted
    b.k.run_until_idle()
    assert b.frames()[-1][6][:3] == b"\x02\x7e\x00"


def test_functional_read_of_three_multi_frame_answers():
    profiles = []
    for i in range(3):
        p = profile_dict(0x7E0 + i, 0x7E8 + i, name="ecu%d" % i)
        p["dids"][0xF190]["value"] = VIN[:16] + bytes((0x30 + i,))
        profiles.append(p)
    b = Bench(3, profiles=profiles)
    b.send("22F190", functional=True)
    b.k.run_until_idle()
    assert sorted((x[1], x[2]) for x in b.rx) == [
        (i, b"\x62\xf1\x90" + VIN[:16] + bytes((0x30 + i,))) for i in range(3)]
    b.check_back_to_back()
    # three first frames win arbitration by id, each transfer continues
    # after its own flow control
    ffs = [x[5] for x in b.frames() if x[6][0] == 0x10]
    assert ffs == [0x7E8, 0x7E9, 0x7EA]
