# Diagnostic endpoints of the gateway: where a diagnostic conversation
# lives (a transport on a bus, addressed) and the tester that talks on it.
#
# An endpoint's transport offers the message-level verbs of a CAN-TP
# Channel, and nothing else is used by testers and routes:
#   request(now, data, n, ta_type) · tx_busy() · poll() -> EV_TX_DONE |
#   EV_TX_FAILED | EV_RX_FF | EV_RX_DONE | EV_RX_FAILED, with payload /
#   length / result after poll()
# The gateway's frame pump carries its frames (feed_frame / pop_frame /
# confirm / on_timer / deadline) to the bus it sits on.  A K-Line session
# (a later issue) joins by offering the same message-level verbs over a
# byte pump: make_transport() grows a TRANSPORT_KLINE branch and nothing
# here or in route.py changes.
#
#   make_transport(spec, gcfg, tp=None) -> (bus, tp)   from an EP map
#   Tester(cid, bus, tp, client)    a tester-role endpoint: a UdsClient (or
#                                   a Flasher borrowing it) bound to tp;
#                                   also carries functional queries
#
# Host values are checked here, before anything is built: a bad one raises
# ConfigError naming the field (tp.max_pdu is capped at the gateway's
# max_pdu, so a host cannot make the gateway allocate more).  What the
# transport could refuse later (a functional PDU without a functional
# address, a multi-frame PDU while a half-duplex channel receives) is
# avoided before Channel.request is called, never raised from it.
from diagbridge._compat import const
from diagbridge.cantp.addr import Address, TA_PHYSICAL, TA_FUNCTIONAL
from diagbridge.cantp.channel import Channel
from diagbridge.cantp.config import TpConfig
from diagbridge.cantp.events import EV_TX_DONE, EV_TX_FAILED, EV_RX_FF, EV_RX_DONE, EV_RX_FAILED
from diagbridge.codes import OK, N_ERROR
from diagbridge.errors import ConfigError
from diagbridge.link import proto as P
from diagbridge.uds.client.core import UdsClient, UdsClientConfig

_ADDR_KEYS = ((P.K_TX_ID, "tx_id"), (P.K_RX_ID, "rx_id"), (P.K_TA, "ta"), (P.K_SA, "sa"),
              (P.K_AE, "ae"), (P.K_FUNC_TX_ID, "func_tx_id"), (P.K_FUNC_RX_ID, "func_rx_id"),
              (P.K_FUNC_TA, "func_ta"), (P.K_PRIORITY, "priority"))
_NO_ADDR = const(-1)


class Unsupported(Exception):
    """A transport, profile or operation this gateway does not have."""


def kwargs(d, name):
    """A {str: value} config map (TP, UDS, FLASH) as keyword arguments."""
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ConfigError(name)
    for k in d:
        if not isinstance(k, str):
            raise ConfigError(name)
    return d


def make_config(cls, d, name, **forced):
    kw = {}
    src = kwargs(d, name)
    for k in src:
        kw[k] = src[k]
    for k in forced:
        kw[k] = forced[k]
    try:
        return cls(**kw)
    except TypeError:               # an unknown field name
        raise ConfigError(name)
    except ConfigError as e:        # the field, under its map's name: "tp.block_size"
        raise ConfigError(name + "." + str(e))


def tp_config(d, gcfg):
    """TpConfig from a TP map; tx_confirm follows the gateway's mode, and
    max_pdu (default: the gateway's) may not exceed the gateway's."""
    m = kwargs(d, "tp").get("max_pdu", gcfg.max_pdu)
    if not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= gcfg.max_pdu:
        raise ConfigError("tp.max_pdu")
    return make_config(TpConfig, d, "tp", tx_confirm=gcfg.tx_confirm, max_pdu=m)


def bus_of(spec, gcfg, name="bus"):
    b = spec.get(P.K_BUS) if isinstance(spec, dict) else None
    if not isinstance(b, int) or isinstance(b, bool) or not 0 <= b < gcfg.n_buses:
        raise ConfigError(name)
    return b


def make_address(spec):
    fmt = spec.get(P.K_ADDRESSING, _NO_ADDR)
    kw = {}
    for key, name in _ADDR_KEYS:
        if key in spec:
            kw[name] = spec[key]
    if not isinstance(fmt, int) or fmt == _NO_ADDR:
        raise ConfigError("addressing")
    return Address(fmt, **kw)


def make_transport(spec, gcfg, tp=None):
    """(bus, transport) from an endpoint map.  tp: a TpConfig to use instead
    of the map's TP.  ConfigError names a bad field; Unsupported for a
    transport this gateway does not run."""
    if not isinstance(spec, dict):
        raise ConfigError("endpoint")
    t = spec.get(P.K_TRANSPORT, P.TRANSPORT_CANTP)
    if t != P.TRANSPORT_CANTP or isinstance(t, bool):
        if t == P.TRANSPORT_KLINE and not isinstance(t, bool):
            raise Unsupported("transport")
        raise ConfigError("transport")
    bus = bus_of(spec, gcfg)
    if tp is None:
        tp = tp_config(spec.get(P.K_TP), gcfg)
    return bus, Channel(tp, make_address(spec))


def client_config(d, gcfg):
    """UdsClientConfig from a UDS map.  A keep-alive period the host did not
    choose is raised to the gateway's floor (keepalive_min_ms) when the
    default lies below it; one it chose is checked by the handler."""
    c = make_config(UdsClientConfig, d, "uds", max_pdu=gcfg.max_pdu)
    if c.keepalive_period_ms < gcfg.keepalive_min_ms and \
            "keepalive_period_ms" not in kwargs(d, "uds"):
        c = make_config(UdsClientConfig, d, "uds", max_pdu=gcfg.max_pdu,
                        keepalive_period_ms=gcfg.keepalive_min_ms)
    return c


def has_functional(tp):
    """The transport can send functionally addressed PDUs."""
    return tp.addr.ftx_id >= 0


class Tester:
    """A tester-role endpoint.  machine: the client, or the Flasher of a
    running flash job (job); req: the link request id waiting for the
    client's EV_DONE (-1: none); query/qi: the functional query this
    endpoint answers into, and its index there."""

    def __init__(self, cid, bus, tp, client):
        self.id = cid
        self.bus = bus
        self.tp = tp
        self.client = client
        self.machine = client
        self.job = None
        self.req = -1
        self.query = None
        self.qi = 0
        self.fq_owner = None        # the FunctionalJob whose request this tp sends
        self._owner = None          # who the PDU in flight belongs to
        self._buf = bytearray(len(client.tx))

    def busy(self):
        return self.machine.busy() or self.job is not None or self.req >= 0 \
            or self.fq_owner is not None

    # ---- transport events (message level) ----------------------------------------
    def on_tp(self, now, ev, tp):
        if ev == EV_TX_DONE or ev == EV_TX_FAILED:
            who = self._owner
            self._owner = None
            if who is not None:
                who.sent(now, OK if ev == EV_TX_DONE else tp.result)
            return
        q = self.query
        m = self.machine
        if q is not None and not m.busy() and q.collecting():
            if ev == EV_RX_DONE:
                q.feed_pdu(now, self.qi, tp.payload, tp.length)
            elif ev == EV_RX_FF:
                q.rx_started(now, self.qi)
            elif ev == EV_RX_FAILED:
                q.rx_failed(now, self.qi, tp.result)
        elif ev == EV_RX_DONE:
            m.feed_pdu(now, tp.payload, tp.length)
        elif ev == EV_RX_FF:
            m.rx_started(now)
        elif ev == EV_RX_FAILED:
            m.rx_failed(now, tp.result)

    def send_next(self, now, fq_buf):
        """Give the transport the next PDU (ours or the functional query's).
        Never raises: a half-duplex channel that is receiving gets the
        client's PDU once the reception ends, and a PDU the transport cannot
        address (functional, none configured: refused at the request, so
        only a safety net) fails with N_ERROR."""
        tp = self.tp
        if self._owner is not None or tp.tx_busy():
            return False
        fq = self.fq_owner
        if fq is not None:
            n = fq.q.pop_pdu(fq_buf)
            if n:
                self._owner = fq.q
                tp.request(now, fq_buf, n, TA_FUNCTIONAL)   # one SF: checked at the request
                return True
        if not tp.cfg.full_duplex and tp.rx_busy():
            return False
        m = self.machine
        n = m.pop_pdu(self._buf)
        if n:
            if m.tx_functional:
                if tp.addr.ftx_id < 0 or n > tp.sf_max():
                    m.sent(now, N_ERROR)
                    return True
                ta = TA_FUNCTIONAL
            else:
                ta = TA_PHYSICAL
            self._owner = m
            tp.request(now, self._buf, n, ta)
            return True
        return False

    def on_timer(self, now):
        self.machine.on_timer(now)

    def deadline(self):
        return self.machine.deadline()


def client_for(d, gcfg):
    return UdsClient(client_config(d, gcfg))
