"""The full fault-injection sweep on the simulated vehicle (CPython only: too
long for MicroPython; the portable core is tests/core/test_sim_faults.py).

For each fault kind (loss, CRC error, undetected payload corruption, delay,
duplication, bus-off) at 1 %, 10 % and in a burst: a UDS request, a
segmented read and a 64 KiB flash end completed (data identical, in the
answer or in the ECU's memory) or failed with a code named after the
standard (and, for a flash, the name of the failed step), within a bound made
of the configured timers, and the kernel reaches idle afterwards.  Then the
host link is cut after every request of a gateway flash job and of a
host-driven flash, in each way a host can vanish.
"""
import pytest

from diagbridge.codes import OK, code_name
from diagbridge.link import proto as P
from diagbridge.sim.faults import (LOSS, CRC_ERROR, CORRUPT_PAYLOAD, DELAY, DUPLICATE, BUS_OFF,
                                   kind_name)
from diagbridge.sim.recorder import Recorder
from gateway_support import VHost, vehicle
from sim_faults_support import (host, plan, request, check_outcome, run_flash, check_flash,
                                settle, image, ecu_image, flash_job_cut, host_flash,
                                host_flash_steps, checksum_ok, cut, engine_requests,
                                flash_bound_us, flash_requests, ENGINE, ENGINE_VIN, ABS,
                                ABS_0100, FLASH_ADDRESS, READ_MAX_US, S3_SERVER_US, CUTS,
                                CUT_SILENT)

FLASH_SIZE = 65536
KINDS = (LOSS, CRC_ERROR, CORRUPT_PAYLOAD, DELAY, DUPLICATE, BUS_OFF)
RATES = {"1pct": {"rate_ppm": 10000}, "10pct": {"rate_ppm": 100000},
         "burst": {"skip": 40, "limit": 5}}
EXTRA = {DELAY: {"delay_us": 2000, "jitter_us": 3000}, BUS_OFF: {"off_us": 50000}}
# Kinds CAN itself repairs: the application never notices them (a delay of
# at most 5 ms is far inside every timer).
HARMLESS = (CRC_ERROR, DELAY)
REQUESTS = 6

_clean = {}


def _clean_flash_us(size):
    """Virtual time of a flash without faults (the base of the bound)."""
    if size not in _clean:
        v, h = host()
        h.open(1, ENGINE)
        img = image(size)
        body, el = run_flash(h, img, 120000000)
        assert check_flash(v, body, img) == "OK"
        _clean[size] = el
    return _clean[size]


def _plan(kind, rate, seed=3):
    kw = dict(RATES[rate])
    kw.update(EXTRA.get(kind, {}))
    return plan(kind, seed=seed, **kw)


@pytest.mark.parametrize("rate", sorted(RATES))
@pytest.mark.parametrize("kind", KINDS, ids=kind_name)
@pytest.mark.parametrize("op", ("request", "segmented_read"))
def test_requests_end_ok_or_with_the_standards_code(op, kind, rate):
    bus = 1 if op == "segmented_read" else 0
    cfg, req, expect = ((ABS, b"\x22\x01\x00", ABS_0100) if bus else
                        (ENGINE, b"\x22\xf1\x90", ENGINE_VIN))
    p = _plan(kind, rate)
    v, h = host({bus: p})
    h.open(1, cfg)
    seen = []
    for i in range(REQUESTS):
        r, data, el = request(h, 1, req, 2 * READ_MAX_US)
        seen.append(check_outcome(r, data, expect, p.hits[CORRUPT_PAYLOAD]))
        assert el <= READ_MAX_US, (seen[-1], el)
    if kind in HARMLESS:
        assert seen == ["OK"] * REQUESTS
    if p.total_hits() == 0:
        assert seen == ["OK"] * REQUESTS
    settle(v, h)


@pytest.mark.parametrize("rate", sorted(RATES))
@pytest.mark.parametrize("kind", KINDS, ids=kind_name)
def test_flash_64k_ends_verified_or_with_the_failed_step(kind, rate):
    clean = _clean_flash_us(FLASH_SIZE)
    p = _plan(kind, rate, seed=5)
    v, h = host({0: p})
    h.open(1, ENGINE)
    img = image(FLASH_SIZE)
    body, el = run_flash(h, img, flash_bound_us(clean, 100000))
    got = check_flash(v, body, img)
    assert el <= flash_bound_us(clean, p.total_hits()), (got, el)
    if kind in HARMLESS:
        assert got == "OK"
    if got == "OK":
        assert ecu_image(v, FLASH_ADDRESS, FLASH_SIZE) == img
    settle(v, h)


def _job_requests(size):
    v, h = host()
    h.open(1, ENGINE)
    r0 = engine_requests(v)
    body, el = run_flash(h, image(size), 60000000)
    assert body[P.K_RESULT] == OK
    return engine_requests(v) - r0


JOB_IMAGE = 4096
JOB_STEPS = flash_requests(JOB_IMAGE)


def test_the_flash_sequence_has_the_requests_counted():
    assert _job_requests(JOB_IMAGE) == JOB_STEPS


@pytest.mark.parametrize("mode", CUTS)
@pytest.mark.parametrize("k", range(1, JOB_STEPS + 1))
def test_host_cut_after_every_request_of_a_flash_job(k, mode):
    """Cut after request k: the job finishes unattended (counted, not
    failed), or it had already ended; the ECU holds the image, the new host
    starts empty and uses the ECU at once, and hears nothing of the old one."""
    img = image(JOB_IMAGE)
    v, b, st, running = flash_job_cut(k, mode, img)
    assert st[P.K_STATS]["jobs_unattended"] == (1 if running else 0)
    assert st[P.K_STATS]["jobs_unattended_failed"] == 0
    if mode != CUT_SILENT:
        assert running or k == JOB_STEPS    # the last request ends the job as it goes
    assert st[P.K_CHANNELS] == [] and ecu_image(v, FLASH_ADDRESS, JOB_IMAGE) == img
    b.open(1, ENGINE)
    assert b.uds(1, b"\x22\xf1\x90")[P.K_DATA] == ENGINE_VIN
    assert [m for m in b.inbox if m[0] in (P.MSG_RESPONSE, P.MSG_ERROR)] == []
    assert [e for e in b.events if e[0] in (P.MSG_EV_PROGRESS, P.MSG_EV_STATE)] == []
    settle(v, b)


HOST_IMAGE = 2048
HOST_STEPS = [s[0] for s in host_flash_steps(image(HOST_IMAGE))]


@pytest.mark.parametrize("mode", CUTS)
@pytest.mark.parametrize("step", HOST_STEPS)
def test_host_cut_after_every_request_of_a_host_driven_flash(step, mode):
    """The host runs the sequence itself and vanishes once the ECU took the
    request of `step`: its channel goes, the ECU falls back to the default
    session after S3, and a new host flashes another image, verified."""
    img = image(HOST_IMAGE)
    v, a = host()
    a.open(1, ENGINE)
    host_flash(a, 1, img, stop_after=HOST_STEPS.index(step) + 1)
    b, running = cut(v, a, mode)
    assert running == []
    st = b.ok(P.MSG_REQ_STATUS, {})
    assert st[P.K_CHANNELS] == [] and st[P.K_JOBS] == []
    b.run(S3_SERVER_US + 200000)
    b.open(1, ENGINE)
    assert b.uds(1, b"\x22\xf1\x86")[P.K_DATA] == b"\x62\xf1\x86\x01"
    img2 = bytes(x ^ 0xA5 for x in image(HOST_IMAGE))
    got = host_flash(b, 1, img2)
    assert checksum_ok(got["checksum"], img2)
    assert ecu_image(v, FLASH_ADDRESS, HOST_IMAGE) == img2
    assert [m for m in b.inbox if m[0] in (P.MSG_RESPONSE, P.MSG_ERROR)] == []
    settle(v, b)


def _first_readback_frame():
    """Index, among the engine's frames of a clean flash, of the first
    frame of the first readback answer (a first frame `1x xx 76 01`)."""
    rec = Recorder()
    v = vehicle(recorder=rec)
    h = VHost(v)
    h.login()
    h.open(1, ENGINE)
    body, el = run_flash(h, image(JOB_IMAGE), 60000000)
    assert body[P.K_RESULT] == OK
    eng = [r for r in rec.records if r[4] == "engine"]
    for i in range(len(eng)):
        if eng[i][6][2:4] == b"\x76\x01" and eng[i][6][0] & 0xF0 == 0x10:
            return i
    raise AssertionError("no readback answer")


def test_flash_survives_one_lost_frame_of_a_readback_answer():
    i = _first_readback_frame()
    p = plan(LOSS, sender="engine", skip=i + 1, limit=1)     # its first CF
    v, h = host({0: p})
    h.open(1, ENGINE)
    img = image(JOB_IMAGE)
    body, el = run_flash(h, img, flash_bound_us(_clean_flash_us(JOB_IMAGE), 1))
    assert p.total_hits() == 1
    assert check_flash(v, body, img) == "OK", code_name(body[P.K_RESULT])
