# Config of the two K-Line link roles: unit-suffixed ints with defaults from
# SSF 14230-2 (ISO 14230-2 for the 5-baud init), validated at construction;
# a bad field raises ConfigError naming it.
from diagbridge.errors import ConfigError, config_int
from diagbridge.kline import timing as T
from diagbridge.kline.keybytes import KB1_SSF, KB2_SSF, key_bytes_valid


class TesterConfig:
    """address: the tester's source address; p4_tx_us: its inter-byte time
    (P4min..P4max); p3_tx_us: the gap before a request (at least P3min);
    retries: repeats after a failed transmission (section 6.2.1: 2);
    tinil_us / twup_us: the wake-up pattern; tidle_us: idle before the first
    init (power-on); w4_tx_us: 5-baud, KB2 -> ~KB2; ssf_only: accept only
    the key bytes EA 8F; echo_slack_us: how long past two byte times an
    echo may take before it counts as lost (a USB adapter's latency)."""

    def __init__(self, address=0xF1, p4_tx_us=5000, p3_tx_us=55000, retries=2,
                 tinil_us=T.TINIL_US, twup_us=T.TWUP_US, tidle_us=T.TIDLE_POWER_ON_US,
                 w4_tx_us=25000, ssf_only=False, baud=10400, events=8, echo_slack_us=1000):
        self.address = config_int("address", address, 0, 0xFF)
        self.p4_tx_us = config_int("p4_tx_us", p4_tx_us, 0, T.P4MAX_US)
        self.p3_tx_us = config_int("p3_tx_us", p3_tx_us, 0, 63500000)
        self.retries = config_int("retries", retries, 0, 10)
        self.tinil_us = config_int("tinil_us", tinil_us, T.TINIL_US - T.TINIL_TOL_US,
                                   T.TINIL_US + T.TINIL_TOL_US)
        self.twup_us = config_int("twup_us", twup_us, T.TWUP_US - T.TWUP_TOL_US,
                                  T.TWUP_US + T.TWUP_TOL_US)
        self.tidle_us = config_int("tidle_us", tidle_us, 0, 60000000)
        self.w4_tx_us = config_int("w4_tx_us", w4_tx_us, T.W4_MIN_US, T.W4_MAX_US)
        if ssf_only is not True and ssf_only is not False:
            raise ConfigError("ssf_only")
        self.ssf_only = ssf_only
        self.baud = config_int("baud", baud, 1, 1000000)
        self.events = config_int("events", events, 1, 255)
        self.echo_slack_us = config_int("echo_slack_us", echo_slack_us, 0, T.P4MAX_US)


class EcuConfig:
    """address: the ECU's physical address; groups: functional addresses it
    belongs to; kb1/kb2: its key bytes (SSF: EA 8F); p2_ecu_us: when a
    physical response starts after the request (within P2); p1_tx_us: its
    inter-byte time; stop_allowed / atp_allowed: whether StopCommunication
    and ATP set requests are granted; limits: TimingLimits for ATP;
    five_baud: answer a 5-baud init; w1_us..w4_us: its 5-baud timing;
    echo_slack_us: as for the tester."""

    def __init__(self, address=0x11, groups=(), kb1=KB1_SSF, kb2=KB2_SSF, p2_ecu_us=25000,
                 p1_tx_us=0, stop_allowed=True, atp_allowed=True, limits=None,
                 five_baud=True, w1_us=60000, w2_us=5000, w3_us=0, w4_us=25000,
                 baud=10400, events=8, echo_slack_us=1000):
        self.address = config_int("address", address, 0, 0xFF)
        for g in groups:
            config_int("groups", g, 0, 0xFF)
        self.groups = tuple(groups)
        if not key_bytes_valid(kb1, kb2):
            raise ConfigError("kb1")
        self.kb1 = kb1
        self.kb2 = kb2
        self.p2_ecu_us = config_int("p2_ecu_us", p2_ecu_us, 0, 89600000)
        self.p1_tx_us = config_int("p1_tx_us", p1_tx_us, 0, T.P1MAX_US)
        self.stop_allowed = bool(stop_allowed)
        self.atp_allowed = bool(atp_allowed)
        self.limits = T.TimingLimits() if limits is None else limits
        if not self.limits.valid():
            raise ConfigError("limits")
        self.five_baud = bool(five_baud)
        self.w1_us = config_int("w1_us", w1_us, T.W1_MIN_US, T.W1_MAX_US)
        self.w2_us = config_int("w2_us", w2_us, T.W2_MIN_US, T.W2_MAX_US)
        self.w3_us = config_int("w3_us", w3_us, T.W3_MIN_US, T.W3_MAX_US)
        self.w4_us = config_int("w4_us", w4_us, T.W4_MIN_US, T.W4_MAX_US)
        self.baud = config_int("baud", baud, 1, 1000000)
        self.events = config_int("events", events, 1, 255)
        self.echo_slack_us = config_int("echo_slack_us", echo_slack_us, 0, T.P1MAX_US)
