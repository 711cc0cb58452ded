# What one host slot's host owns on the gateway (gateway/hosts.py: one
# Tenancy per slot), and its teardown: one object, so a new kind of
# host-owned thing (a K-Line channel, an ISOBUS session) is added in one
# place and cannot be forgotten at teardown.
#
# Rule: everything a host creates belongs to its session on its slot.  When
# the session ends (EV_LINK_LOST: BYE, the host silent, a bad MAC, a new
# HELLO on a live link, the adapter's detach; and, in case a session was
# closed without one, when the next host is let in on the slot) teardown()
# removes it all, and nothing of the other slots' hosts: CAN listeners and
# their filters, raw frames still queued, functional queries, tester
# channels (their keep-alives and outstanding requests with them), routes,
# hosted ECUs, flash jobs not yet started and the bus locks it held (the
# other hosts are told).  A new host finds its slot empty: its channel 1
# never clashes with a channel the last host left behind.
#
# The exception is a flash job already running: an ECU must not be left
# half-flashed.  The job runs to its end unattended (no events and no
# RESPONSE: the request id belonged to the old session, and the new host
# may reuse it); its tester endpoint leaves the channel table (so its id is
# free at once) but keeps its place on the bus until the job ends.  Meanwhile
# STATUS JOBS lists the job to every host (and OP_ABORT from any full-role
# host still stops it); when it ends it is gone, counted in STATS
# "jobs_unattended" and, unless its result was OK, "jobs_unattended_failed".
#
#   t = Tenancy(n_buses, max_filters)
#   t.teardown(now, gw, slot)  idempotent; gw: the node table, raw-CAN slots and
#                              bus locks; slot: the HostSlot this Tenancy is of
#   t.drop_job(job, gw)        an ended or aborted job; an orphaned endpoint goes too
#   t.reserved_bytes()         flash image bytes the jobs hold


class Tenancy:
    def __init__(self, n_buses, max_filters):
        self.testers = []                   # endpoint.Tester (channels)
        self.routes = []                    # route.Route
        self.jobs = []                      # jobs.FlashJob
        self.orphans = []                   # Testers of running jobs whose host left
        self.ecus = []                      # ids of hosted ECUs
        self.fq = [None] * n_buses          # a running FunctionalJob per bus
        # raw CAN listening: per bus on/off, echo of own frames, id/mask filters
        self.listen = bytearray(n_buses)
        self.echo = bytearray(n_buses)
        self.flt_n = bytearray(n_buses)
        self.flt_id = [0] * (n_buses * max_filters)
        self.flt_mask = [0] * (n_buses * max_filters)

    def reserved_bytes(self):
        k = 0
        for j in self.jobs:
            if j.image is not None:
                k += j.total
        return k

    def drop_job(self, job, gw):
        if job in self.jobs:
            self.jobs.remove(job)
        t = job.tester
        if t in self.orphans:
            self.orphans.remove(t)
            gw.remove_node(t.tp)

    def teardown(self, now, gw, slot):
        for b in range(len(self.listen)):
            self.listen[b] = 0
            self.echo[b] = 0
            self.flt_n[b] = 0
        gw.drop_raw(slot.index)
        gw.locks.release_all(now, gw, slot)
        fq = self.fq
        for b in range(len(fq)):
            if fq[b] is not None:
                fq[b].detach()
                fq[b] = None
        for j in list(self.jobs):
            if j.started():
                if not j.orphaned:
                    j.orphan()
                    t = j.tester
                    if t in self.testers:
                        self.testers.remove(t)
                        t.req = -1
                        self.orphans.append(t)
            else:
                j.abort(now, slot.link)
                self.jobs.remove(j)
        for t in self.testers:
            gw.remove_node(t.tp)
        self.testers = []
        for r in self.routes:
            gw.remove_node(r.a)
            gw.remove_node(r.b.tp)
        self.routes = []
        gw.remove_hosted_ecus(slot.index)
        self.ecus = []
