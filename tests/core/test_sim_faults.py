# Fault injection in the simulator (diagbridge.sim.faults on sim.canbus):
# the bus behaviour of each fault kind to the microsecond, seeded rules, and
# scenarios on the simulated vehicle: UDS requests, a segmented read and a
# flash under loss, corruption, delay, duplication and bus-off end completed
# (data identical) or failed with a code named after the standard, within a
# bound made of the configured timers, and the kernel goes idle afterwards;
# a host cut at steps of a flash leaves a gateway that finishes the job and
# takes a new host.  The full sweep is tests/test_sim_faults_sweep.py.
# Portable: runs under pytest and MicroPython.
from diagbridge.codes import OK, L_OK, L_BUS_OFF, N_WRONG_SN, A_TIMEOUT_P2
from diagbridge.errors import ConfigError, UsageError
from diagbridge.link import proto as P
from diagbridge.sim.canbus import (CanBus, FAULT_NONE, FAULT_DROP, CANF_DUPLICATE,
                                   CANF_DROPPED, CANF_ERROR, can_flag_names)
from diagbridge.sim.faults import (FaultPlan, FaultRule, LOSS, CRC_ERROR, CORRUPT_PAYLOAD, DELAY,
                                   DUPLICATE, BUS_OFF, RATE_ALL, kind_name)
from diagbridge.sim.kernel import Kernel
from diagbridge.sim.recorder import Recorder
from sim_faults_support import (host, plan, request, check_outcome, run_flash, check_flash,
                                settle, image, ecu_image, flash_job_cut, host_flash,
                                host_flash_steps, checksum_ok, cut,
                                flash_bound_us, flash_requests, ENGINE, ENGINE_VIN, ABS,
                                ABS_0100, FLASH_ADDRESS, N_BS_US, P2_CLIENT_US,
                                READ_MAX_US, S3_SERVER_US, CUT_BYE, CUT_RESTART, CUT_SILENT)
from support import raises, MICROPYTHON

D55 = b"\x55" * 8                   # 0x2AA + 8 x 0x55: 111 bits, 222 us at 500 kbit/s


def _bus(names, rec=None):
    k = Kernel(0)
    bus = CanBus(k, "can0", 500000, recorder=rec)
    log = []
    ports = []
    for name in names:
        p = bus.attach(name)
        p.on_rx = (lambda nm: lambda now, f: log.append((k.elapsed_us, nm, "rx", f.can_id,
                                                          bytes(f.data))))(name)
        p.on_tx = (lambda nm: lambda now, f, r: log.append((k.elapsed_us, nm, "tx", f.can_id,
                                                             r)))(name)
        ports.append(p)
    return k, bus, ports, log


# ---- rules and plans ---------------------------------------------------------------------
def _field_error(kind, **kw):
    """The ConfigError's text when FaultRule(kind, **kw) is refused, else None."""
    try:
        FaultRule(kind, **kw)
    except ConfigError as e:
        return str(e)
    return None


def test_rule_fields_are_checked():
    assert _field_error(0) == "kind" and _field_error(7) == "kind"
    assert _field_error(LOSS, rate_ppm=-1) == "rate_ppm"
    assert _field_error(LOSS, rate_ppm=RATE_ALL + 1) == "rate_ppm"
    assert _field_error(LOSS, can_id=0x20000000) == "can_id"
    assert _field_error(LOSS, sender=5) == "sender"
    assert _field_error(LOSS, skip=-1) == "skip"
    assert _field_error(LOSS, limit=-2) == "limit"
    assert _field_error(LOSS, from_us=100, until_us=100) == "until_us"
    assert _field_error(DELAY) == "delay_us"                    # a delay needs a delay
    assert _field_error(CORRUPT_PAYLOAD, mask=0x100) == "mask"
    assert _field_error(BUS_OFF, off_us=True) == "off_us"
    assert _field_error(LOSS, rate_ppm=10000, can_id=0x7E8, sender="engine") is None
    assert raises(ConfigError, FaultPlan, -1)
    assert raises(ConfigError, FaultPlan(1).add, "loss")
    assert [kind_name(k) for k in (LOSS, CRC_ERROR, CORRUPT_PAYLOAD, DELAY, DUPLICATE,
                                   BUS_OFF)] == ["loss", "crc_error", "corrupt_payload",
                                                 "delay", "duplicate", "bus_off"]
    assert kind_name(9) == "kind_9"


def _verdicts(seed, rate_ppm, n=400):
    p = plan(LOSS, rate_ppm, seed)
    k, bus, (a,), log = _bus(("a",))
    f = a.send(0x100, b"\x01")
    out = []
    for i in range(n):
        f.t_start_us = i
        out.append(p(f))
    return p, out


def test_rates_are_seeded_and_deterministic():
    p1, v1 = _verdicts(5, 100000)
    p2, v2 = _verdicts(5, 100000)
    p3, v3 = _verdicts(6, 100000)
    assert v1 == v2 and v1 != v3
    hits = v1.count(FAULT_DROP)
    assert hits == p1.hits[LOSS] == p1.rules[0].hits and p1.frames == 400
    assert 20 <= hits <= 60                 # 10 % of 400, give or take
    assert _verdicts(5, 0)[1] == [FAULT_NONE] * 400
    assert _verdicts(5, RATE_ALL)[1] == [FAULT_DROP] * 400


def test_selection_by_id_sender_window_skip_and_limit():
    k, bus, (a, b), log = _bus(("a", "b"))
    p = FaultPlan(1)
    burst = p.add(FaultRule(LOSS, can_id=0x7E8, sender="b", skip=2, limit=3,
                            from_us=100, until_us=100000))
    bus.fault = p
    b.send(0x7E8, b"\x00")                # starts at t=0: before the window
    k.run_until_idle()
    for i in range(8):
        a.send(0x7E8, bytes([0x10 + i]))    # same id, other sender: never hit
    k.run_until_idle()
    for i in range(1, 8):
        b.send(0x7E8, bytes([i]))
        b.send(0x7E9, bytes([0x20 + i]))    # other id: never hit
    k.run_until_idle()
    k.run_for(100000)
    b.send(0x7E8, b"\x08")                # after the window
    k.run_until_idle()
    got = [e[4][0] for e in log if e[2] == "rx" and e[1] == "a" and e[3] == 0x7E8]
    # in the window: 1 and 2 are skipped, then three in a row are lost (the
    # burst), then the limit is reached
    assert got == [0, 1, 2, 6, 7, 8]
    assert burst.hits == 3 and burst.seen == 7 and bus.dropped == 3
    assert [e[4][0] for e in log if e[1] == "b" and e[2] == "rx"] == list(range(0x10, 0x18))
    assert [e[4][0] for e in log if e[2] == "rx" and e[3] == 0x7E9] == list(range(0x21, 0x28))


def test_first_rule_that_hits_decides():
    p = FaultPlan(1, (FaultRule(CRC_ERROR, limit=1), FaultRule(LOSS)))
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = p
    a.send(0x100, b"\x01")
    k.run_until_idle()
    # the error slot (first rule), then the retransmission is lost (second rule)
    assert p.hits[CRC_ERROR] == 1 and p.hits[LOSS] == 1 and p.total_hits() == 2
    assert log == [(log[0][0], "a", "tx", 0x100, L_OK)] and bus.errors == 1


# ---- the bus behaviour of each kind --------------------------------------------------------
def test_loss_sender_sees_success_nobody_receives():
    rec = Recorder()
    k, bus, (a, b), log = _bus(("a", "b"), rec)
    bus.fault = plan(LOSS, limit=1)
    a.send(0x2AA, D55)
    a.send(0x2AA, D55)
    k.run_until_idle()
    assert log == [(222, "a", "tx", 0x2AA, L_OK), (444, "a", "tx", 0x2AA, L_OK),
                   (444, "b", "rx", 0x2AA, D55)]
    assert [r[7] for r in rec.records] == [CANF_DROPPED, 0] and bus.dropped == 1


def test_crc_error_is_an_error_frame_and_a_retransmission():
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = plan(CRC_ERROR, limit=2)
    a.send(0x2AA, D55)
    k.run_until_idle()
    # two error slots of 118 bits (236 us), then the frame: nobody saw the
    # corrupted bytes, the receiver gets the frame once, intact
    assert log == [(2 * 236 + 222, "a", "tx", 0x2AA, L_OK), (694, "b", "rx", 0x2AA, D55)]
    assert bus.errors == 2 and a.tec == 15


def test_corrupt_payload_changes_one_byte_undetected():
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = plan(CORRUPT_PAYLOAD, limit=1, mask=0x0F)
    a.send(0x2AA, D55)
    k.run_until_idle()
    got = log[1][4]
    diff = [i for i in range(8) if got[i] != D55[i]]
    assert log[0][4] == L_OK and len(diff) == 1 and got[diff[0]] == 0x55 ^ 0x0F
    # a seeded mask is never 0: the byte always changes
    for seed in range(1, 40):
        k, bus, (a, b), log = _bus(("a", "b"))
        bus.fault = plan(CORRUPT_PAYLOAD, seed=seed)
        a.send(0x100, b"\x00")
        k.run_until_idle()
        assert log[1][4] != b"\x00"
    # an empty frame has nothing to corrupt: it passes, and is not counted
    k, bus, (a, b), log = _bus(("a", "b"))
    p = plan(CORRUPT_PAYLOAD)
    bus.fault = p
    a.send(0x100, b"")
    k.run_until_idle()
    assert log[1][4] == b"" and p.total_hits() == 0


def test_delay_reorders_across_ids_never_within_one_id():
    k, bus, (a, b, c), log = _bus(("a", "b", "c"))
    bus.fault = plan(DELAY, limit=1, delay_us=1000)
    a.send(0x155, b"\x01" * 8)          # delayed by 1000 us
    a.send(0x155, b"\x02" * 8)          # not delayed, but may not overtake the first
    c.send(0x2A5, b"\x03" * 8)          # another id: overtakes both
    k.run_until_idle()
    rx = [(e[0], e[4][0]) for e in log if e[1] == "b" and e[2] == "rx"]
    t1 = [e[0] for e in log if e[1] == "a" and e[2] == "tx"]
    assert rx[0][1] == 3 and rx[0][0] < 1000
    assert rx[1:] == [(t1[0] + 1000, 1), (t1[0] + 1000, 2)]
    assert bus.delayed == 2
    # with jitter, every delivery of one id stays in send order
    k, bus, (a, b), log = _bus(("a", "b"))
    p = plan(DELAY, seed=3, delay_us=100, jitter_us=5000)
    bus.fault = p
    for i in range(30):
        a.send(0x7E8, bytes([i]))
        a.send(0x7E9, bytes([i]))
    k.run_until_idle()
    for cid in (0x7E8, 0x7E9):
        seq = [e[4][0] for e in log if e[2] == "rx" and e[3] == cid]
        assert seq == list(range(30))
    assert p.hits[DELAY] == 60
    # nothing is held back afterwards: a frame without delay arrives at the
    # end of its own slot
    bus.fault = None
    del log[:]
    t0 = k.elapsed_us
    a.send(0x2AA, D55)
    k.run_until_idle()
    assert [(e[0] - t0, e[2]) for e in log] == [(222, "tx"), (222, "rx")]


def test_duplicate_is_delivered_twice_after_a_lost_ack():
    rec = Recorder()
    k, bus, (a, b), log = _bus(("a", "b"), rec)
    bus.fault = plan(DUPLICATE, limit=1)
    a.send(0x2AA, D55)
    k.run_until_idle()
    # slot 1: the whole frame and a 14-bit error frame (125 bits, 250 us),
    # delivered; the controller sends it again (222 us) and confirms it.
    assert log == [(250, "b", "rx", 0x2AA, D55), (472, "a", "tx", 0x2AA, L_OK),
                   (472, "b", "rx", 0x2AA, D55)]
    assert [r[7] for r in rec.records] == [CANF_DUPLICATE, 0]
    assert bus.duplicates == 1 and bus.errors == 1 and a.tec == 7
    assert can_flag_names(rec.records[0][3], CANF_DUPLICATE) == "duplicate"


def test_bus_off_for_a_period_then_recovery():
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = plan(BUS_OFF, sender="a", limit=1, off_us=1000)
    a.send(0x2AA, D55)
    a.send(0x32A, D55)
    k.run_until_idle()
    # the frame on the wire is aborted (confirmed when its slot ends), the
    # queued one at once; b receives nothing
    assert log == [(0, "a", "tx", 0x32A, L_BUS_OFF), (222, "a", "tx", 0x2AA, L_BUS_OFF)]
    # recover() 1000 us after the fault, error-active 128 x 11 bits later
    assert not a.bus_off and a.tec == 0 and k.elapsed_us == 1000 + 2816
    del log[:]
    a.send(0x2AA, D55)
    k.run_until_idle()
    assert [e[1:3] + (e[4],) for e in log] == [("a", "tx", L_OK), ("b", "rx", D55)]
    # off_us = 0: it stays off until someone calls recover()
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = plan(BUS_OFF, limit=1)
    a.send(0x2AA, D55)
    k.run_until_idle()
    assert a.bus_off and k.next_time() is None


def test_hook_validation():
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = lambda f: 9
    a.send(0x100, b"")
    assert raises(UsageError, k.run_until_idle)
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = lambda f: "drop"
    a.send(0x100, b"")
    assert raises(UsageError, k.run_until_idle)

    def neg(f):
        f.off_us = -1
        return FAULT_NONE
    k, bus, (a, b), log = _bus(("a", "b"))
    bus.fault = neg
    a.send(0x100, b"")
    assert raises(UsageError, k.run_until_idle)


def _traffic(hook):
    rec = Recorder()
    k, bus, (a, b), log = _bus(("a", "b"), rec)
    bus.fault = hook
    b.on_rx = lambda now, f: b.send(0x7E8, f.data) if f.can_id == 0x7E0 else None
    for i in range(20):
        a.send(0x7E0, bytes([i, i]))
        a.send(0x18DAF110, bytes(range(i % 9)), extended=True)
    k.run_until_idle()
    return rec.records, k.elapsed_us


def test_no_plan_and_a_plan_that_never_hits_give_the_same_traffic():
    off = _traffic(None)
    zero = _traffic(FaultPlan(1, (FaultRule(LOSS, 0), FaultRule(CRC_ERROR, can_id=0x7FF))))
    assert off == zero and len(off[0]) == 60
    lossy = _traffic(plan(LOSS, 300000, seed=4))
    assert lossy != off
    assert [r[7] & (CANF_DROPPED | CANF_ERROR) for r in lossy[0]].count(CANF_DROPPED) > 0


# ---- scenarios on the simulated vehicle ----------------------------------------------------
def test_requests_under_loss_end_ok_or_with_the_standards_code_in_bounded_time():
    p = plan(LOSS, 100000, seed=3)          # 10 % of can0's frames lost
    v, h = host({0: p})
    h.open(1, ENGINE)
    seen = []
    for i in range(8):
        r, data, el = request(h, 1, b"\x22\xf1\x90", 2 * READ_MAX_US)
        seen.append(check_outcome(r, data, ENGINE_VIN))
        assert el <= READ_MAX_US, (seen[-1], el)
        h.run(N_BS_US)                      # the ECU's side of a broken transfer ends too
    assert "OK" in seen and p.total_hits() > 0
    # the first answer's flow control was lost: the ECU waited for it,
    # the gateway for the consecutive frames, N_Cr after its flow control
    assert seen[0] == "N_TIMEOUT_CR"
    settle(v, h)


def test_segmented_read_with_a_duplicated_consecutive_frame_is_n_wrong_sn():
    # ABS's 200-byte answer: FF + 29 CF; the 3rd frame it sends is duplicated
    p = plan(DUPLICATE, sender="abs", skip=2, limit=1)
    v, h = host({1: p})
    h.open(1, ABS)
    r, data, el = request(h, 1, b"\x22\x01\x00", 2 * READ_MAX_US)
    assert r == N_WRONG_SN and el < 10000   # the repeated SN is refused at once
    # the ECU still waits for a flow control the gateway will not send: a
    # request meanwhile goes unanswered (P2), one after N_Bs is served
    r, data, el = request(h, 1, b"\x22\x01\x00", 2 * READ_MAX_US)
    assert r == A_TIMEOUT_P2 and el <= P2_CLIENT_US + 1000
    h.run(N_BS_US)
    r, data, el = request(h, 1, b"\x22\x01\x00", 2 * READ_MAX_US)
    assert check_outcome(r, data, ABS_0100) == "OK"
    assert v.buses[1].duplicates == 1
    settle(v, h)


def test_crc_errors_never_reach_the_application():
    p = plan(CRC_ERROR, 100000, seed=2)
    v, h = host({1: p})
    h.open(1, ABS)
    for i in range(4):
        r, data, el = request(h, 1, b"\x22\x01\x00", READ_MAX_US)
        assert r == OK and data == ABS_0100
    assert p.hits[CRC_ERROR] > 0 and v.buses[1].errors == p.hits[CRC_ERROR]
    settle(v, h)


def _clean_flash_us(size):
    v, h = host()
    h.open(1, ENGINE)
    body, el = run_flash(h, image(size), 60000000)
    assert body[P.K_RESULT] == OK
    return el


def test_flash_repeats_a_block_whose_flow_control_was_lost():
    size = 4096
    clean = _clean_flash_us(size)
    # the ECU's 9th frame is the flow control of the first TransferData
    # (after 50 03, 50 02, 67 03, 67 04, the FC of the erase request, 71 01,
    # the FC of 34 and 74): lost
    p = plan(LOSS, sender="engine", skip=8, limit=1)
    v, h = host({0: p})
    h.open(1, ENGINE)
    img = image(size)
    body, el = run_flash(h, img, flash_bound_us(clean, 1))
    assert check_flash(v, body, img) == "OK"
    rep = body[P.K_REPORT]
    assert rep["retries"] == 1 and p.total_hits() == 1
    # the block waited N_Bs for its flow control, then went again whole
    assert clean + N_BS_US <= el <= clean + N_BS_US + 100000
    assert ecu_image(v, FLASH_ADDRESS, size) == img
    settle(v, h)


def test_flash_under_faults_ends_verified_or_with_the_failed_step():
    size = 4096 if MICROPYTHON else 16384
    clean = _clean_flash_us(size)
    for kind, kw in ((CRC_ERROR, {"rate_ppm": 100000}),
                     (CORRUPT_PAYLOAD, {"rate_ppm": 10000}),
                     (DELAY, {"rate_ppm": 100000, "delay_us": 500, "jitter_us": 2000}),
                     (BUS_OFF, {"sender": "engine", "skip": 30, "limit": 1, "off_us": 20000})):
        p = plan(kind, seed=5, **kw)
        v, h = host({0: p})
        h.open(1, ENGINE)
        img = image(size)
        bound = flash_bound_us(clean, p.total_hits() + 1000)
        body, el = run_flash(h, img, bound)
        got = check_flash(v, body, img)
        assert el <= flash_bound_us(clean, p.total_hits()), (kind_name(kind), el)
        if kind == CRC_ERROR or kind == DELAY:
            assert got == "OK", (kind_name(kind), got)      # CAN repairs these itself
        settle(v, h)


def test_host_cut_during_a_flash_job_the_job_finishes_unattended():
    img = image(4096)
    n = flash_requests(len(img))
    points = ((1, CUT_BYE), (9, CUT_RESTART), (n - 5, CUT_BYE), (n - 1, CUT_RESTART))
    for k, mode in points:
        v, b, st, running = flash_job_cut(k, mode, img)
        assert running
        assert st[P.K_STATS]["jobs_unattended"] == 1, (k, mode)
        assert st[P.K_STATS]["jobs_unattended_failed"] == 0
        assert st[P.K_CHANNELS] == [] and ecu_image(v, FLASH_ADDRESS, len(img)) == img
        b.open(1, ENGINE)                   # the new host uses the ECU at once
        assert b.uds(1, b"\x22\xf1\x90")[P.K_DATA] == ENGINE_VIN
        assert [m for m in b.inbox if m[0] in (P.MSG_RESPONSE, P.MSG_ERROR)] == []
        settle(v, b)


def test_host_cut_during_a_host_driven_flash_leaves_a_clean_gateway():
    img = image(2048)
    steps = host_flash_steps(img)
    names = [s[0] for s in steps]
    for name, mode in (("key", CUT_BYE), ("transfer 2", CUT_RESTART), ("exit", CUT_SILENT)):
        k = names.index(name) + 1
        v, a = host()
        a.open(1, ENGINE)
        host_flash(a, 1, img, stop_after=k)
        b, running = cut(v, a, mode)
        assert running == []
        st = b.ok(P.MSG_REQ_STATUS, {})
        assert st[P.K_CHANNELS] == [] and st[P.K_JOBS] == []
        b.run(S3_SERVER_US + 200000)            # S3: the ECU falls back to the default session
        b.open(1, ENGINE)
        assert b.uds(1, b"\x22\xf1\x86")[P.K_DATA] == b"\x62\xf1\x86\x01", name
        img2 = bytes(b ^ 0xFF for b in image(1024))
        got = host_flash(b, 1, img2)
        assert checksum_ok(got["checksum"], img2) and ecu_image(v, FLASH_ADDRESS, 1024) == img2
        assert [m for m in b.inbox if m[0] in (P.MSG_RESPONSE, P.MSG_ERROR)] == []
        settle(v, b)
