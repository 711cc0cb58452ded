# Helpers for the fault-injection scenarios (no tests here): a UDS request,
# a segmented read and a flash through the gateway of the simulated vehicle
# while sim.faults rules hit its buses, each ending in one outcome whose
# code is named after the standard, within a bound computed from the
# configured timers; host disconnects at every step of a flash.
# Portable: pytest and MicroPython.
from diagbridge.cantp.config import TpConfig
from diagbridge.codes import OK, code_name
from diagbridge.link import proto as P
from diagbridge.sim.faults import FaultPlan, FaultRule, RATE_ALL
from diagbridge.crc import crc16_ccitt
from diagbridge.link.config import LinkConfig
from diagbridge.link.session import S_READY
from diagbridge.uds.client.core import UdsClientConfig
from diagbridge.uds.client.flash import FlashConfig
from diagbridge.uds.codec.routine import build_address_routine_request, \
    build_routine_control_request, parse_routine_control_response, RC_START
from diagbridge.uds.codec.session import build_dsc_request, build_request_seed, build_send_key, \
    build_ecu_reset_request, parse_security_response
from diagbridge.uds.codec.transfer import build_request_download, build_transfer_data_request, \
    build_request_transfer_exit, next_bsc
from diagbridge.uds.seedkey import key_function
from diagbridge.uds.server.config import UdsServerConfig
from diagbridge.uds.server.profiles import engine
from diagbridge.uds.server.transfer_machine import context
from gateway_support import VHost, vehicle, ENGINE

# ABS on the chassis bus (can1): DID 0x0100 is 200 bytes, 29 frames.
ABS = {P.K_BUS: 1, P.K_ADDRESSING: P.ADDRESSING_NORMAL_11, P.K_TX_ID: 0x7E0,
       P.K_RX_ID: 0x7E8, P.K_FUNC_TX_ID: 0x7DF}
ABS_0100 = b"\x62\x01\x00" + bytes(range(200))
ENGINE_VIN = b"\x62\xf1\x90W0L000043MB541326"

FLASH_ADDRESS = 0x10000
FLASH_MAP = {"address": FLASH_ADDRESS, "security_level": 3, "key_algorithm": "diagbridge1",
             "secret": b"EngineProg03"}
CHUNK = 512

# The configured timers every bound below is made of (defaults of the
# layers, ms): CAN-TP N_As/N_Bs/N_Cr/N_Ar, the gateway client's P2/P2*, the
# server's P2*, S3 and the erase routine of the engine profile.
_TP = TpConfig()
_UC = UdsClientConfig()
_SC = UdsServerConfig()
_ENGINE = engine.profile()
N_AS_US = _TP.n_as_ms * 1000
N_AR_US = _TP.n_ar_ms * 1000
N_BS_US = _TP.n_bs_ms * 1000
N_CR_US = _TP.n_cr_ms * 1000
# the gateway's client starts with p2_client_ms, then adopts the session's P2 + margin
P2_CLIENT_US = max(_UC.p2_client_ms,
                   _ENGINE["sessions"][0x01]["p2_ms"] + _UC.p2_margin_ms) * 1000
P2STAR_CLIENT_US = (_SC.p2star_server_max_ms + _UC.p2star_margin_ms) * 1000
S3_SERVER_US = _SC.s3_server_ms * 1000
ERASE_US = _ENGINE["routines"][0xFF00]["duration_ms"] * 1000
FLASH_RETRIES = FlashConfig(0, security_level=0).retries
# One request/response exchange whose frames are all lost or stalled ends by
# the longest of its timers: sending (N_As then N_Bs per block), the answer
# (P2 or P2* after a 0x78), receiving (N_Cr per frame gap, N_Ar for our FC).
EXCHANGE_MAX_US = N_AS_US + N_BS_US + P2STAR_CLIENT_US + N_AR_US + N_CR_US
# A single-frame read (no 0x78): the request frame (N_As), the answer's
# start (P2), our flow control (N_Ar), a consecutive frame (N_Cr), plus the
# wire time of a 200-byte answer with margin.
READ_MAX_US = N_AS_US + P2_CLIENT_US + N_AR_US + N_CR_US + 50000


def image(size):
    return bytes(((i * 7) ^ (i >> 8) ^ 0x5A) & 0xFF for i in range(size))


def plan(kind, rate_ppm=RATE_ALL, seed=1, **kw):
    """One rule, as a FaultPlan."""
    return FaultPlan(seed, (FaultRule(kind, rate_ppm, **kw),))


def host(faults=None, credits=64):
    """A vehicle with the faults installed ({bus: plan}) and a logged-in host.
    The host link is ideal: the faults are on the buses."""
    v = vehicle(faults=faults)
    h = VHost(v)
    m = h.login(P.ROLE_FULL, credits)
    assert m[0] == P.MSG_AUTH_OK, m
    return v, h


def request(h, cid, data, max_us):
    """One UDS request through the gateway; (result, data, elapsed_us)."""
    t0 = h.v.k.elapsed_us
    m = h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: cid, P.K_DATA: data}, max_us)
    assert m is not None, "no answer within %d us" % max_us
    assert m[0] == P.MSG_RESPONSE, m
    body = m[2]
    return body[P.K_RESULT], body.get(P.K_DATA, b""), h.v.k.elapsed_us - t0


def check_outcome(result, data, expect, corrupted=0):
    """Success carries exactly the expected answer; anything else is a code
    named after the standard (never a made-up number, never a hang).
    corrupted: payload bytes an undetected-corruption fault changed; an
    answer may then differ from expect in at most that many bytes (nothing
    in UDS or CAN-TP can see such a change): "CORRUPTED"."""
    if result == OK:
        if data != expect:
            assert len(data) == len(expect), (data, expect)
            diff = 0
            for i in range(len(data)):
                if data[i] != expect[i]:
                    diff += 1
            assert 0 < diff <= corrupted, (data, expect, corrupted)
            return "CORRUPTED"
    else:
        assert not code_name(result).startswith("CODE_"), result
    return code_name(result)


def start_flash(h, job, cid, img, flash=None):
    h.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_BEGIN, P.K_JOB: job, P.K_CHANNEL: cid,
                           P.K_TOTAL: len(img), P.K_FLASH: flash or FLASH_MAP})
    for off in range(0, len(img), CHUNK):
        h.ok(P.MSG_REQ_FLASH, {P.K_OP: P.OP_DATA, P.K_JOB: job, P.K_OFFSET: off,
                               P.K_DATA: img[off:off + CHUNK]})
    return h.start(P.MSG_REQ_FLASH, {P.K_OP: P.OP_START, P.K_JOB: job})


def flash_requests(size, block=_ENGINE["transfer"]["max_block_length"] - 2):
    """Requests of the engine's flash sequence for an image of size bytes:
    10 03, 85 82, 28 81 01, 10 02, 27 03, 27 04, erase, 34, 36 x blocks, 37,
    35, 36 x blocks, 37, check, 11 01, 28 80 01, 85 81."""
    blocks = (size + block - 1) // block
    return 15 + 2 * blocks


def flash_bound_us(clean_us, faults):
    """The longest a flash may take: the clean run, plus for every frame a
    fault hit, one exchange ended by its longest timer and the retry of the
    whole request (the flasher retries FLASH_RETRIES times, then fails)."""
    return clean_us + faults * (FLASH_RETRIES + 1) * (EXCHANGE_MAX_US + ERASE_US)


def ecu_image(v, addr, n):
    """n bytes of the engine's memory at addr (the download store)."""
    out = bytearray(n)
    context(v.ecu("engine").srv).store.read(addr, out, 0, n)
    return bytes(out)


def run_flash(h, img, max_us, job=7, cid=1):
    """Flash img to the engine through a gateway flash job; (result body,
    elapsed_us from OP_START)."""
    rid = start_flash(h, job, cid, img)
    t0 = h.v.k.elapsed_us
    r = h.wait(rid, max_us)
    assert r is not None, "flash: no answer within %d us" % max_us
    assert r[0] == P.MSG_RESPONSE, r
    return r[2], h.v.k.elapsed_us - t0


def check_flash(v, body, img):
    """OK: verified and identical in the ECU; else the failed step's name and
    a code named after the standard (an NRC with A_NEGATIVE_RESPONSE)."""
    rep = body[P.K_REPORT]
    if body[P.K_RESULT] == OK:
        assert rep["verified"] and rep["step_name"] == "done", rep
        assert ecu_image(v, FLASH_ADDRESS, len(img)) == img
        return "OK"
    name = code_name(body[P.K_RESULT])
    assert not name.startswith("CODE_"), body
    assert rep["step_name"] == "failed" and rep["failed_step_name"] not in ("idle", "done",
                                                                           "failed"), rep
    if name == "A_NEGATIVE_RESPONSE":
        assert 0 < body[P.K_NRC] <= 0xFF
    return name + "@" + rep["failed_step_name"]


def settle(v, h, max_us=None):
    """The host leaves (BYE); then the kernel must reach idle (nothing
    pending forever): S3 returns the ECUs to the default session.  Returns
    the elapsed_us it took."""
    if max_us is None:
        max_us = S3_SERVER_US + P2STAR_CLIENT_US + EXCHANGE_MAX_US
    h.send(P.MSG_BYE, 0, None)
    t0 = v.k.elapsed_us
    v.k.run_until_idle(max_us)
    assert v.k.next_time() is None, "still busy %d us after the host left" % max_us
    return v.k.elapsed_us - t0


# ---- host disconnects ------------------------------------------------------------------
CUT_BYE = "bye"             # the host says BYE
CUT_RESTART = "restart"     # the host vanishes; a new one sends HELLO on the same link at once
CUT_SILENT = "silent"       # the host vanishes; the gateway notices after link_timeout_ms
CUTS = (CUT_BYE, CUT_RESTART, CUT_SILENT)
LINK_TIMEOUT_US = LinkConfig().link_timeout_ms * 1000


def engine_requests(v):
    """Requests the engine ECU has taken so far (physical and functional)."""
    return v.ecu("engine").requests


def cut(v, h, mode):
    """Cut the host link of h.  Returns (the new host, logged in; the ids of
    the flash jobs running when the gateway saw the old host gone)."""
    if mode == CUT_SILENT:
        # nobody reads or writes the link until the gateway gives up on it
        assert v.run_until(lambda: v.gw.link.state != S_READY, LINK_TIMEOUT_US + 1000000)
    running = [j.id for j in v.gw.tenancy.jobs if j.started()]
    if mode == CUT_BYE:
        h.send(P.MSG_BYE, 0, None)
    v.link.read()                             # what the old host never read
    b = VHost(v)
    m = b.login()
    assert m[0] == P.MSG_AUTH_OK, m
    return b, running


def until_jobs_end(b, max_us):
    """Poll STATUS until no job is listed; returns the last STATUS body."""
    end = b.v.k.elapsed_us + max_us
    st = b.ok(P.MSG_REQ_STATUS, {})
    while st[P.K_JOBS] and b.v.k.elapsed_us < end:
        b.run(100000)
        st = b.ok(P.MSG_REQ_STATUS, {})
    return st


def flash_job_cut(k, mode, img):
    """A gateway flash job whose host is cut once the engine took the k-th
    request of the sequence (k = 1: the first).  Returns (vehicle, new host,
    STATUS after the job ended, whether the job was still running when the
    gateway saw its host gone)."""
    v, a = host()
    a.open(1, ENGINE)
    start_flash(a, 7, 1, img)
    r0 = engine_requests(v)
    ok = v.run_until(lambda: engine_requests(v) >= r0 + k, 60000000)
    assert ok, "the flash never reached request %d" % k
    b, running = cut(v, a, mode)
    st = until_jobs_end(b, 120000000)
    assert st[P.K_JOBS] == [], st
    return v, b, st, 7 in running


def host_flash_steps(img, block=512, secret=b"EngineProg03"):
    """The programming sequence a host runs itself through a channel, as
    (name, request builder(previous answer) -> bytes, expected first byte)."""
    buf = bytearray(4096)

    def b(n):
        return bytes(buf[0:n])
    steps = [("pre_session", lambda prev: b(build_dsc_request(buf, 0x03)), 0x50),
             ("session", lambda prev: b(build_dsc_request(buf, 0x02)), 0x50),
             ("seed", lambda prev: b(build_request_seed(buf, 0x03)), 0x67)]

    def key(prev):
        seed = parse_security_response(prev, len(prev))[1]
        return b(build_send_key(buf, 0x03, key_function("diagbridge1", secret)(0x03, seed)))
    steps.append(("key", key, 0x67))
    steps.append(("erase", lambda prev: b(build_address_routine_request(
        buf, 0xFF00, FLASH_ADDRESS, len(img), 3, 3)), 0x71))
    steps.append(("download", lambda prev: b(build_request_download(
        buf, FLASH_ADDRESS, len(img), 3, 3)), 0x74))
    bsc = 1
    for off in range(0, len(img), block):
        cnt = min(block, len(img) - off)

        def td(prev, bsc=bsc, off=off, cnt=cnt):
            return b(build_transfer_data_request(buf, bsc, img, off, cnt))
        steps.append(("transfer %d" % bsc, td, 0x76))
        bsc = next_bsc(bsc)
    steps.append(("exit", lambda prev: b(build_request_transfer_exit(buf)), 0x77))
    steps.append(("checksum", lambda prev: b(build_address_routine_request(
        buf, 0x0203, FLASH_ADDRESS, len(img), 3, 3)), 0x71))
    steps.append(("check", lambda prev: b(build_routine_control_request(buf, RC_START, 0xFF01)),
                  0x71))
    steps.append(("reset", lambda prev: b(build_ecu_reset_request(buf, 0x01)), 0x51))
    return steps


def host_flash(h, cid, img, stop_after=-1):
    """Run host_flash_steps over channel cid; stop (return) once the engine
    took request stop_after (its answer may still be under way).  Returns
    the answers received, by step name."""
    steps = host_flash_steps(img)
    got = {}
    prev = b""
    for i in range(len(steps)):
        name, build, first = steps[i]
        req = build(prev)
        if i + 1 == stop_after:
            r0 = engine_requests(h.v)
            h.start(P.MSG_REQ_UDS, {P.K_CHANNEL: cid, P.K_DATA: req})
            assert h.v.run_until(lambda: engine_requests(h.v) > r0, 10000000)
            return got
        body = h.ok(P.MSG_REQ_UDS, {P.K_CHANNEL: cid, P.K_DATA: req}, 30000000)
        assert body[P.K_RESULT] == OK, (name, body)
        prev = body[P.K_DATA]
        assert prev[0] == first, (name, prev)
        got[name] = prev
    return got


def checksum_ok(answer, img):
    """The checksum routine's 2-byte status is the image's CRC-16/CCITT-FALSE."""
    r = parse_routine_control_response(answer, len(answer))
    p = r[2]
    return ((answer[p] << 8) | answer[p + 1]) == crc16_ccitt(img, 0, len(img))
