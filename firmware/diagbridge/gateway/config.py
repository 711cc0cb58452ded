# The gateway's configuration: one small class of unit-suffixed ints (and
# the transmit-id ranges of limits.py), validated at construction;
# ConfigError names the bad field.
from diagbridge.errors import ConfigError
from diagbridge.errors import config_int as _int
from diagbridge.gateway.limits import DIAGNOSTIC_TX_IDS, tx_ids


class GatewayConfig:
    """n_buses      buses 0..n_buses-1 (CAN; K-Line joins later)
    max_hosts      hosts served at once (host slots, gateway/hosts.py), each
                   with its own LinkSession buffers (tens of KB of heap at the
                   default LinkConfig, see hosts.py), so 1 by default: a
                   board's one UART; the CPython daemon's boards: 4
    max_nodes      frame-level participants at once (tester channels, route
                   sides, hosted ECUs)
    max_filters    listen filters per bus
    raw_tx         raw frames (REQ_CAN_SEND) waiting at once
    tx_confirm     True: the adapter calls confirm_can() for every frame;
                   False: a frame counts as sent when popped
    max_pdu        largest UDS message (client buffers)
    max_answer     bytes kept per functional answer
    flash_max_bytes  flash image bytes reserved at once, over all jobs
    What a host may put on a bus (limits.py):
    diagnostic_tx_ids  ((first, last, ext), ...) ids the diagnostic role may
                   transmit on (ext True: 29-bit); default 0x700-0x7FF and
                   0x18DA0000-0x18DBFFFF (29-bit normal fixed)
    full_tx_ids    the same for the full role; None: every id
    keepalive_min_ms  the shortest keep-alive (and route response-pending)
                   period a host may ask for (ISO 14229-2 S3_server is
                   5000 ms: a 2 s TesterPresent is typical)
    tx_rate_fps    frames a second a host may send, over all its things ...
    tx_burst       ... and at most this many at once (a token bucket: raw
                   frames beyond it are refused, every other frame counts)
    Failed logins on a one-peer link (login.py):
    login_backoff_ms  the first back-off is twice this (0: none, e.g. when the
                   adapter backs off per peer itself)
    login_backoff_max_ms  the longest back-off
    login_forget_ms  after a back-off ended this long without a new
                   failure, the count starts again"""

    def __init__(self, n_buses=1, max_hosts=1, max_nodes=16, max_filters=8, raw_tx=8, tx_confirm=True,
                 max_pdu=4095, max_answer=255, flash_max_bytes=0x100000,
                 diagnostic_tx_ids=DIAGNOSTIC_TX_IDS, full_tx_ids=None, keepalive_min_ms=500,
                 tx_rate_fps=1000, tx_burst=100, login_backoff_ms=100,
                 login_backoff_max_ms=30000, login_forget_ms=240000):
        self.n_buses = _int("n_buses", n_buses, 1, 16)
        self.max_hosts = _int("max_hosts", max_hosts, 1, 32)
        self.max_nodes = _int("max_nodes", max_nodes, 1, 255)
        self.max_filters = _int("max_filters", max_filters, 1, 64)
        self.raw_tx = _int("raw_tx", raw_tx, 1, 64)
        self.tx_confirm = bool(tx_confirm)
        self.max_pdu = _int("max_pdu", max_pdu, 8, 0xFFFFF)
        self.max_answer = _int("max_answer", max_answer, 1, 4095)
        self.flash_max_bytes = _int("flash_max_bytes", flash_max_bytes, 1, 0x3FFFFFFE)
        self.diagnostic_tx_ids = tx_ids("diagnostic_tx_ids", diagnostic_tx_ids)
        if self.diagnostic_tx_ids is None:
            raise ConfigError("diagnostic_tx_ids")      # a tuple of ranges; () for none
        self.full_tx_ids = tx_ids("full_tx_ids", full_tx_ids)
        self.keepalive_min_ms = _int("keepalive_min_ms", keepalive_min_ms, 1, 60000)
        self.tx_rate_fps = _int("tx_rate_fps", tx_rate_fps, 1, 100000)
        self.tx_burst = _int("tx_burst", tx_burst, 1, 1000)
        self.login_backoff_ms = _int("login_backoff_ms", login_backoff_ms, 0, 60000)
        self.login_backoff_max_ms = _int("login_backoff_max_ms", login_backoff_max_ms,
                                         self.login_backoff_ms, 240000)
        self.login_forget_ms = _int("login_forget_ms", login_forget_ms, 0, 240000)
