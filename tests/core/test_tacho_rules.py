# The tachograph VU's rules (tacho-digest 1-4) on the simulated K-Line in
# virtual time: Table 1 cell by cell (every service in 0x81 / 0x87 / 0x85, in
# CALIBRATION mode so only the session decides), then each CPR rule on its own:
# the PIN against the workshop card's try counter, the VU's own limit, the seed
# when already calibrating, writes outside 0x85 or out of range, NVM
# persistence, the response-pending cadence and the five-minute cap, the I/O
# line's parameters and modes, TimeAdjustment's conditions, both annexes.
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE
from diagbridge.kline.config import TesterConfig as _Tester
from diagbridge.kwp.client import KwpClient, EV_READY
from diagbridge.kwp.services import tacho as T
from diagbridge.sim.kline_ecu import KLineNode
from diagbridge.uds.server.nvm import MemNvm
from tacho_support import TachoBench, bench, hexs, frame

NEG = A_NEGATIVE_RESPONSE
BYTE_US = 961               # 10 bits at 10400 baud, rounded down


def _neg(b, req, rc):
    r = b.ask(req)
    sid = hexs(req)[0]
    assert r == (NEG, rc, bytes((0x7F, sid, rc))), (req, r)


def _pos(b, req, rsp=None):
    r = b.ask(req)
    assert r[0] == OK, (req, r)
    if rsp is not None:
        assert r[2] == hexs(rsp), (req, r)
    return r[2]


def _tacho_keys(nvm):
    return [k for k in nvm.keys() if k.startswith("tacho.")]


def _cal(session=None, **kw):
    b = bench(**kw)
    b.calibrate()
    if session is not None:
        _pos(b, session)
    return b


# ---- Table 1, every session x service ---------------------------------------------
# (request, allowed in 0x81, 0x87, 0x85, the refusal)
_TABLE_1 = (
    ("3E 01", (1, 1, 1), None),
    ("27 7D", (1, 1, 1), None),
    ("22 F9 18", (1, 1, 1), None),
    ("2E F9 18 1F 40", (0, 0, 1), 0x22),
    ("2F F9 60 03 02", (0, 1, 0), 0x22),
    ("31 01 01 00", (0, 0, 1), 0x22),       # M3 row is blank: accepted in ECUPS (digest 1.1)
)


def test_table_1_every_session_and_service():
    for i, session in enumerate(("10 81", "10 87", "10 85")):
        b = _cal(session)
        for req, allowed, rc in _TABLE_1:
            if allowed[i]:
                _pos(b, req)
            else:
                _neg(b, req, rc)
        for s in ("10 81", "10 87", "10 85"):       # any session from any session
            _pos(b, s, "50" + s[2:])
            _pos(b, session)
        _neg(b, "83 03 00 00 00 00 00", 0x10)        # AccessTimingParameter: no change of timing
        if i == 0:
            _pos(b, "82", "C2")
        else:
            _neg(b, "82", 0x10)                      # StopCommunication only in SD


def test_start_communication_reinitialises_in_any_session():
    for session in ("10 85", "10 87"):
        b = _cal(session)
        if session == "10 87":
            _pos(b, "2F F9 60 03 03")
        other = KwpClient(_Tester(address=0xF1), keepalive_ms=0)
        node = KLineNode(b.k, b.line, "tester2", other)
        other.start(b.k.now, 0xEE)
        b.k.call_later(0, lambda now, a: node.flush(now))
        b.k.run_until(lambda: any(e[1] == EV_READY for e in node.events), 2000000)
        assert (b.srv.session, b.vu.io) == (0x81, T.IO_DISABLED)       # CPR_008, CPR_012
        assert b.vu.mode() == T.MODE_CALIBRATION                       # the card is still in


def test_any_tester_address_is_answered():
    b = TachoBench(tester_address=0x37)
    b.init()
    t0 = b.t()
    _pos(b, "22 F9 2C", "62 F9 2C 5A 00")
    assert b.wire(t0)[1] == ("tacho_vu", frame("80 37 EE 05 62 F9 2C 5A 00"))


def test_answers_within_p2():
    b = bench()
    t0 = b.t()
    _pos(b, "22 F9 18")
    (e1, q), (e2, a) = b.frames_from("tester", t0)[0], b.frames_from("tacho_vu", t0)[0]
    gap = (e2 - (len(a) - 1) * BYTE_US) - e1
    assert 25000 <= gap <= 27000, gap                   # 25 ms: P2min of Table 4


def test_no_five_baud_init():
    b = TachoBench()
    assert b.ecu.link.cfg.five_baud is False and b.ecu.link.cfg.address == 0xEE


# ---- SecurityAccess (CPR_033-039) -------------------------------------------------------
def test_wrong_pin_is_invalid_key_and_counts_on_the_card():
    b = bench(verify_ms=100)
    _pos(b, "27 7D", "67 7D 00 01")
    _neg(b, "27 7E 39 39 39 39", 0x35)
    assert (b.vu.card_tries, b.vu.mode()) == (4, T.MODE_OPERATIONAL)
    _pos(b, "27 7D", "67 7D 00 01")
    _pos(b, "27 7E 31 32 33 34", "67 7E")
    assert (b.vu.card_tries, b.vu.mode()) == (5, T.MODE_CALIBRATION)   # reset on success


def test_try_counter_runs_out_and_the_card_stays_blocked():
    b = bench(verify_ms=100, vu_attempts=10)
    for rc in (0x35, 0x35, 0x35, 0x35, 0x36):
        _pos(b, "27 7D")
        _neg(b, "27 7E 30 30 30 30", rc)
    assert b.vu.card_tries == 0
    _pos(b, "27 7D")
    _neg(b, "27 7E 31 32 33 34", 0x36)                  # the right PIN: still blocked
    assert b.vu.mode() == T.MODE_OPERATIONAL


def test_vu_refuses_the_card_after_its_attempt_limit():
    b = bench(verify_ms=100, vu_attempts=2)
    for _ in range(2):
        _pos(b, "27 7D")
        _neg(b, "27 7E 30 30 30 30", 0x35)
    _neg(b, "27 7D", 0x22)                              # UIA_214: the card is non-valid now


def test_seed_zero_when_already_calibrating_in_any_session_and_after_reinit():
    b = _cal("10 85")
    _pos(b, "27 7D", "67 7D 00 00")
    _pos(b, "10 81")
    _pos(b, "27 7D", "67 7D 00 00")
    _pos(b, "82", "C2")
    b.run(100000)
    b.init()                                            # CALIBRATION mode is the VU's state
    _pos(b, "27 7D", "67 7D 00 00")
    b.vu.insert("workshop")                             # card re-inserted: PIN again
    _pos(b, "27 7D", "67 7D 00 01")


def test_send_key_needs_a_positive_request_seed():
    b = bench()
    _neg(b, "27 7E 31 32 33 34", 0x22)
    _pos(b, "27 7D")
    _neg(b, "27 7E 31 32 33 34 35 36 37 38 39", 0x13)  # m = 9
    _neg(b, "27 7D 00", 0x13)
    _neg(b, "27 01", 0x12)
    _neg(b, "27", 0x13)


def test_no_valid_workshop_card_is_not_ready():
    for card, annex in (("none", "1C"), ("control", "1C"), ("company", "1C"),
                        ("gen1_workshop", "1C")):
        b = bench(annex, card=card)
        _neg(b, "27 7D", 0x22)
    b = bench("1B", card="gen1_workshop")           # a Gen1 card in a Gen1 VU
    _pos(b, "27 7D", "67 7D 00 01")


def test_response_pending_cadence():
    b = bench(verify_ms=3000)
    _pos(b, "27 7D")
    t0 = b.t()
    r = b.ask("27 7E 31 32 33 34")
    assert r[0] == OK
    q = b.frames_from("tester", t0)[0][0]
    ends = [e - (len(f) - 1) * BYTE_US for e, f in b.frames_from("tacho_vu", t0)]
    starts = [q] + [e + 0 for e, f in b.frames_from("tacho_vu", t0)]
    gaps = [ends[i] - starts[i] for i in range(len(ends))]
    assert all(25000 <= g <= 250000 for g in gaps), gaps          # Table 4 P2, both readings
    assert len(ends) == 1 + b.client.pending and b.client.pending >= 15
    assert 3000000 <= ends[-1] - q <= 3250000


def test_five_minute_cap_on_the_card_check():
    b = bench(verify_ms=400000)                     # the card never answers in time
    _pos(b, "27 7D")
    b.rec.records[:] = []
    b.client.request(b.k.now, hexs("27 7E 31 32 33 34"), 6)
    b.kick()
    frames = []
    q = None
    while b.k.elapsed_us < 400000000 and not b.client.ready():
        b.run(10000000)                             # in steps: the recorder is emptied each time
        if q is None:
            q = b.frames_from("tester")[0][0]
        frames.extend(b.frames_from("tacho_vu"))
        b.rec.records[:] = []
    assert (b.client.nrc, bytes(b.client.response[0:b.client.length])) == (0x10, hexs("7F 27 10"))
    last = frames[-1][0] - (len(frames[-1][1]) - 1) * BYTE_US
    assert 299000000 <= last - q <= 300000000, last - q
    prev = q
    for e, f in frames:
        assert e - (len(f) - 1) * BYTE_US - prev <= 250000
        prev = e
    assert len(frames) >= 1200 and b.vu.mode() == T.MODE_OPERATIONAL


# ---- WriteDataByIdentifier (CPR_056) --------------------------------------------------
def test_writes_only_in_ecups_and_calibration_mode():
    b = bench()
    _neg(b, "2E F9 18 1F 40", 0x22)                     # SD
    _pos(b, "10 87")
    _neg(b, "2E F9 18 1F 40", 0x22)                     # ECUAS
    _pos(b, "10 85")
    _neg(b, "2E F9 18 1F 40", 0x22)                     # ECUPS, PIN not given
    assert _tacho_keys(b.nvm) == []


def test_write_refusals_in_order():
    b = _cal()
    _neg(b, "2E F9 FF 00", 0x31)                        # unknown
    _neg(b, "2E F9 D8 44 20 20", 0x31)                  # read-only (Annex IC "R")
    _neg(b, "2E F9 18 1F", 0x13)                        # 1 byte for a 2-byte record
    _neg(b, "2E F9", 0x13)
    _neg(b, "2E F9 2C FB 00", 0x31)                     # above 250.996 km/h
    _neg(b, "2E F9 0B E0 22 0C 0D 3C 27 7D 7D", 0x31)  # month 13
    _neg(b, "2E F9 22 03 00 29", 0x31)                  # day 0
    _neg(b, "2E F1 90 54 45 53 54 56 49 4E 30 31 32 33 34 35 36 37 38 2A", 0x31)   # '*'
    _neg(b, "2E F9 D5 03", 0x31)
    assert _tacho_keys(b.nvm) == []
    _pos(b, "22 F9 2C", "62 F9 2C 5A 00")


def test_writes_persist_through_nvm():
    nvm = MemNvm()
    b = _cal(nvm=nvm)
    _pos(b, "2E F9 2C 55 00", "6E F9 2C")
    _pos(b, "2E F9 7E 01 42 2D 58 59 20 39 38 37 20 20 20 20 20", "6E F9 7E")
    assert nvm.get(T.nvm_key(0xF92C)) == hexs("55 00")
    b2 = bench(nvm=nvm)                                 # a VU powered up again
    _pos(b2, "22 F9 2C", "62 F9 2C 55 00")
    assert b2.ask("22 F9 7E")[2][3:] == b"\x01B-XY 987     "
    nvm.fail_writes = True
    _neg(b, "2E F9 2C 50 00", 0x10)                     # NVM failed: RAM unchanged
    _pos(b, "22 F9 2C", "62 F9 2C 55 00")


# ---- the calibration I/O line (CPR_058-065) ----------------------------------------------
def test_io_line_parameters():
    b = _cal("10 87")
    _neg(b, "2F F9 61 03 01", 0x31)                     # IOI
    _neg(b, "2F F9 60 02", 0x31)                        # IOCP 02 is not defined
    _neg(b, "2F F9 60 03 04", 0x31)                     # controlState
    _neg(b, "2F F9 60 03", 0x13)                        # 03 needs a controlState
    _neg(b, "2F F9 60 01 00", 0x13)                     # 01 has none
    _neg(b, "2F F9", 0x13)
    for cs in (1, 2, 3):
        _pos(b, "2F F9 60 03 0%d" % cs, "6F F9 60 03 0%d" % cs)
        assert b.vu.io == cs
    _pos(b, "2F F9 60 00", "6F F9 60 00")               # ReturnControlToECU
    assert b.vu.io == T.IO_DISABLED


def test_io_line_resets_when_leaving_ecuas_or_the_mode():
    b = _cal("10 87")
    _pos(b, "2F F9 60 03 01")
    _pos(b, "10 85")
    assert b.vu.io == T.IO_DISABLED
    _pos(b, "10 87")
    _pos(b, "2F F9 60 03 02")
    b.vu.insert("none")                                 # card out: CALIBRATION ends
    assert b.vu.io == T.IO_DISABLED
    _neg(b, "2F F9 60 03 02", 0x22)


def test_io_line_modes_per_annex():
    b = bench("1C", card="control")
    _pos(b, "10 87")
    _pos(b, "2F F9 60 03 00")
    _neg(b, "2F F9 60 03 03", 0x22)                     # RTCOutput not in CONTROL mode
    b = bench("1B", card="control")
    _pos(b, "10 87")
    _neg(b, "2F F9 60 03 02", 0x22)                     # Annex IB: CALIBRATION mode only
    b = bench("1C", card="none")
    _pos(b, "10 87")
    _neg(b, "2F F9 60 03 02", 0x22)


# ---- TimeAdjustment (Annex IC CPR_065a/b) --------------------------------------------
def test_time_adjustment_conditions():
    b = bench("1B")
    b.calibrate()
    _neg(b, "31 01 01 00", 0x11)                        # not in Annex IB
    b = bench()
    _pos(b, "10 85")
    _neg(b, "31 01 01 00", 0x22)                        # not CALIBRATION mode
    b = _cal(gnss=False)
    _neg(b, "31 01 01 00", 0x22)                        # no authenticated position
    b = _cal()
    _neg(b, "31 03 01 00", 0x22)                        # results before start
    _neg(b, "31 02 01 00", 0x12)                        # no stopRoutine
    _neg(b, "31 01 01 01", 0x31)
    _neg(b, "31 01 01", 0x13)
    b = _cal("10 87", rc_in_ecuas=True)
    _pos(b, "31 01 01 00", "71 01 01 00")


# ---- the annexes' RDI sets --------------------------------------------------------------
def test_annex_ib_has_eleven_records():
    b = bench("1B")
    _neg(b, "22 F9 D4", 0x31)
    _pos(b, "22 F9 18", "62 F9 18 1F 40")
    b = bench("1C")
    assert len(_pos(b, "22 F9 D3")) == 3 + 55
