# Tester jobs the gateway runs for the host with its own timing: one UDS
# request (physical: the endpoint's UdsClient; functional: a FunctionalQuery
# over every tester endpoint of the bus) and a whole flashing job (a Flasher
# borrowing the endpoint's client).  Each ends with one RESPONSE to the link
# request that started it (body schemas: link/proto.py).
#
#   Replies(link, max_frame)        RESPONSE bodies checked against max_message
#   uds_done(now, rp, t)            the client's EV_DONE -> RESPONSE
#   FunctionalJob(owner, group, req, data, n, gcfg, now)   .pump(now, rp)
#   FlashJob(jid, tester, total, flash_map, gcfg)  .write() .start() .pump()
#                                   .abort() .orphan()
#
# A flash job whose host left (orphan()) runs to its end without a request
# to answer: no events, no RESPONSE (the request id is the old session's,
# and a new host may reuse it); its outcome is counted by the gateway.
from diagbridge.codes import OK, A_NEGATIVE_RESPONSE, LINK_CLOSED, LINK_OVERSIZE
from diagbridge.errors import ConfigError, UsageError
from diagbridge.link import proto as P
from diagbridge.link.msgpack import pack_obj
from diagbridge.uds.client.core import EV_DONE as C_DONE, EV_KEEPALIVE_FAILED as C_KA_FAILED
from diagbridge.uds.client.functional import (FunctionalQuery, FunctionalConfig, EV_DONE as Q_DONE,
                                       ANS_NONE, ANS_POSITIVE, ANS_NEGATIVE)
from diagbridge.uds.client.flash import (Flasher, FlashConfig, EV_STEP as F_STEP,
                                  EV_PROGRESS as F_PROGRESS, EV_DONE as F_DONE)
from diagbridge.uds.seedkey import key_function, ALGORITHMS
from diagbridge.gateway.endpoint import make_config


_HEAD = 8                   # [kind, ref, ...]: 0x93, kind, ref (<= 5 bytes), slack
_T_OVERSIZE = b"the answer is larger than the host link's max_message: raise max_message"


def negative(sid, nrc):
    return bytes((0x7F, sid, nrc))


class Replies:
    """The answers to held requests.  A body larger than the link's
    max_message (many functional answers) would fail
    inside the session after the request was already taken off its slot, so
    it is measured here first, in a buffer made once, and answered with
    ERROR LINK_OVERSIZE instead."""

    def __init__(self, link, max_frame):
        self.link = link
        self._buf = bytearray(link.max_message)     # (longer than a frame: fragments)

    def fits(self, body):
        try:
            pack_obj(self._buf, _HEAD, body)
        except (IndexError, UsageError):
            return False
        return True

    def obj(self, now, req, body):
        if req < 0:
            return False
        if self.fits(body):
            return self.link.respond_obj(now, req, body)
        return self.link.error(now, req, LINK_OVERSIZE, _T_OVERSIZE)


def uds_done(now, rp, t):
    """Answer the request waiting on tester t with its client's outcome."""
    c = t.client
    req = t.req
    t.req = -1
    body = {P.K_RESULT: c.result, P.K_PENDING: c.pending}
    if c.result == OK and c.length > 0:
        body[P.K_DATA] = bytes(c.payload[0:c.length])
    elif c.result == A_NEGATIVE_RESPONSE:
        body[P.K_NRC] = c.nrc
        body[P.K_DATA] = negative(c.tx[0], c.nrc)
    rp.obj(now, req, body)


def pump_client(now, rp, t):
    """Drain the client's events: EV_DONE answers the waiting request."""
    c = t.client
    ev = c.poll()
    while ev:
        if ev == C_DONE and t.req >= 0:
            uds_done(now, rp, t)
        elif ev == C_KA_FAILED:
            rp.link.post_event(now, P.MSG_EV_STATE, {P.K_WHAT: P.WHAT_KEEPALIVE,
                                                     P.K_STATE: c.ka_result, P.K_REF: t.id})
        ev = c.poll()


class FunctionalJob:
    """One functional request; answers from every tester endpoint in group."""

    def __init__(self, owner, group, req, data, n, gcfg, now):
        c = owner.client
        cfg = FunctionalConfig(p2_client_ms=c.p2_us // 1000,
                               p2star_client_ms=c.p2star_us // 1000,
                               max_pending=c.cfg.max_pending, max_answer=gcfg.max_answer)
        self.q = FunctionalQuery(len(group), cfg)
        self.q.request(now, data, n)        # UsageError: longer than a single frame
        self.owner = owner
        self.group = group
        self.req = req
        self.sid = data[0]
        for i in range(len(group)):
            group[i].query = self.q
            group[i].qi = i
        owner.fq_owner = self

    def detach(self):
        for t in self.group:
            t.query = None
        self.owner.fq_owner = None

    def pump(self, now, rp):
        """True when the job is over (answered)."""
        q = self.q
        ev = q.poll()
        while ev:
            if ev == Q_DONE:
                self.detach()
                answers = []
                for i in range(len(self.group)):
                    st = q.status(i)
                    if st == ANS_NONE:
                        continue
                    cid = self.group[i].id
                    if st == ANS_POSITIVE:
                        answers.append([cid, OK, bytes(q.answer(i))])
                    elif st == ANS_NEGATIVE:
                        answers.append([cid, A_NEGATIVE_RESPONSE, negative(self.sid, q.nrc(i))])
                    else:
                        answers.append([cid, q.result(i), b""])
                rp.obj(now, self.req, {P.K_RESULT: OK, P.K_ANSWERS: answers})
                return True
            ev = q.poll()
        return False


_SECRET_MAX = 255


def _key_fn(algorithm, secret):
    """A Flasher key function; algorithm and secret are checked here, at
    OP_BEGIN, because the function runs inside the gateway's loop."""
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ConfigError("flash.key_algorithm")
    if not isinstance(secret, (bytes, bytearray)) or len(secret) > _SECRET_MAX \
            or (not secret and algorithm != "twos_complement"):
        raise ConfigError("flash.secret")
    return key_function(algorithm, secret)


def flash_config(flash_map, functional_ok):
    """FlashConfig from a FLASH map (ConfigError names the field).
    functional_ok: the channel has a functional address, which the
    functional preparation steps (85 82, 28 81 01 and back) need."""
    kw = {}
    if flash_map is not None:
        if not isinstance(flash_map, dict):
            raise ConfigError("flash")
        for k in flash_map:
            if not isinstance(k, str) or k == "key_fn":
                raise ConfigError("flash")
            kw[k] = flash_map[k]
    alg = kw.pop("key_algorithm", "diagbridge1")
    secret = kw.pop("secret", b"")
    if "address" not in kw:
        raise ConfigError("flash.address")
    level = kw.get("security_level", 3)
    if not isinstance(level, int) or isinstance(level, bool):
        raise ConfigError("flash.security_level")
    if level:
        kw["key_fn"] = _key_fn(alg, secret)
    cfg = make_config(FlashConfig, kw, "flash")
    if cfg.functional_prep and not functional_ok:
        raise ConfigError("flash.functional_prep: flash with functional preparation needs a "
                          "functional address on the channel (or functional_prep: false)")
    return cfg


class FlashJob:
    """OP_BEGIN reserves the image; OP_DATA fills it; OP_START runs it.
    cfg: a FlashConfig (flash_config()); the caller checks total."""

    def __init__(self, jid, tester, total, cfg):
        self.cfg = cfg
        self.id = jid
        self.tester = tester
        self.image = bytearray(total)
        self.total = total
        self.f = None
        self.req = -1
        self.orphaned = False

    def write(self, offset, data):
        if not isinstance(offset, int) or not isinstance(data, (bytes, bytearray)) \
                or offset < 0 or offset + len(data) > self.total:
            raise ConfigError("offset")
        if self.f is not None:
            raise UsageError("the job is running")
        img = self.image
        for i in range(len(data)):
            img[offset + i] = data[i]

    def started(self):
        return self.f is not None

    def orphan(self):
        """The host that started the job left: finish without answering."""
        self.orphaned = True
        self.req = -1

    def start(self, now, req):
        t = self.tester
        if self.f is not None:
            raise UsageError("job %d is running" % self.id)
        if t.busy():
            raise UsageError("channel %d is busy" % t.id)
        self.f = Flasher(self.image, self.cfg, client=t.client)
        self.req = req
        t.machine = self.f
        t.job = self
        self.f.start(now)

    def _release(self):
        t = self.tester
        t.machine = t.client
        t.job = None

    def abort(self, now, link):
        if self.f is not None and self.req >= 0 and self.f.running():
            link.error(now, self.req, LINK_CLOSED, b"flash job aborted")
        if self.f is not None:
            self._release()
        self.f = None
        self.image = None

    def pump(self, now, rp):
        """True when the job ended (answered; the caller forgets it)."""
        f = self.f
        if f is None:
            return False
        link = rp.link
        ev = f.poll()
        while ev:
            if self.orphaned:
                if ev == F_DONE:
                    self._release()
                    self.image = None
                    return True
            elif ev == F_STEP:
                link.post_event(now, P.MSG_EV_STATE, {P.K_WHAT: P.WHAT_FLASH_STEP,
                                                      P.K_STATE: f.step, P.K_REF: self.req})
            elif ev == F_PROGRESS:
                link.post_progress(now, self.req, f.done_bytes, f.total)
            elif ev == F_DONE:
                self._release()
                rp.obj(now, self.req, {P.K_RESULT: f.result, P.K_NRC: f.nrc,
                                       P.K_REPORT: self.report()})
                self.image = None
                return True
            ev = f.poll()
        return False

    def report(self):
        f = self.f
        return {"bytes": f.done_bytes, "total": f.total, "blocks": f.blocks,
                "retries": f.repeats, "pending": f.pending, "block_len": f.block_len,
                "elapsed_us": f.elapsed_us, "rate_bps": f.rate_bps,
                "crc_image": f.crc_image, "verified": f.verified,
                "failed_step": f.failed_step, "step_name": P.flash_step_name(f.step),
                "failed_step_name": P.flash_step_name(f.failed_step)}
