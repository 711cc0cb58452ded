# What a host session owns on the gateway, and its teardown.
#
# Rule: everything a host creates belongs to its session.  When the session
# ends (EV_LINK_LOST: BYE, the host silent, a new HELLO on a live link; and,
# in case a session was closed without one, when the next host is let in)
# end_session() removes it all: CAN listeners and their filters, raw frames
# still queued, functional queries, tester channels (their keep-alives and
# outstanding requests with them), routes, hosted ECUs and flash jobs not
# yet started.  A new host finds an empty gateway: its channel 1 never
# clashes with a channel the last host left behind.
#
# The exception is a flash job already running: an ECU must not be left
# half-flashed.  The job runs to its end unattended (no events and no
# RESPONSE: the request id belonged to the old session, and the new host
# may reuse it); its tester endpoint leaves the channel table (so its id is
# free at once) but keeps its place on the bus until the job ends.  Meanwhile
# STATUS JOBS lists the job (and OP_ABORT from the new host still stops it);
# when it ends it is gone, counted in STATS "jobs_unattended" and, unless its
# result was OK, "jobs_unattended_failed".
#
#   end_session(gw, now)      idempotent
#   drop_job(gw, job)         an ended or aborted job; an orphaned endpoint goes too
#   reserved_bytes(gw)        flash image bytes the jobs hold


def reserved_bytes(gw):
    k = 0
    for j in gw.jobs:
        if j.image is not None:
            k += j.total
    return k


def drop_job(gw, job):
    if job in gw.jobs:
        gw.jobs.remove(job)
    t = job.tester
    if t in gw.orphans:
        gw.orphans.remove(t)
        gw.remove_node(t.tp)


def end_session(gw, now):
    for b in range(len(gw.listen)):
        gw.listen[b] = 0
        gw.echo[b] = 0
        gw.flt_n[b] = 0
    gw.drop_raw()
    fq = gw.fq
    for b in range(len(fq)):
        if fq[b] is not None:
            fq[b].detach()
            fq[b] = None
    for j in list(gw.jobs):
        if j.started():
            if not j.orphaned:
                j.orphan()
                t = j.tester
                if t in gw.testers:
                    gw.testers.remove(t)
                    t.req = -1
                    gw.orphans.append(t)
        else:
            j.abort(now, gw.link)
            gw.jobs.remove(j)
    for t in gw.testers:
        gw.remove_node(t.tp)
    gw.testers = []
    for r in gw.routes:
        gw.remove_node(r.a)
        gw.remove_node(r.b.tp)
    gw.routes = []
    tps = gw.node_tp
    for i in range(len(tps)):
        if tps[i] is not None and gw.node_owner[i] is None:
            tps[i] = None               # a hosted ECU
    gw.ecus = []
