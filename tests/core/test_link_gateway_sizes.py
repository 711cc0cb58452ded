# The gateway (diagbridge.gateway on the simulated vehicle) and the host
# link's sizes: a REQ_UDS whose longest answer the host could not take is
# refused before it reaches the ECU (LinkSession.carries), so the gateway
# never consumes an ECU answer the host cannot receive.
import hashlib

from diagbridge.codes import LINK_OVERSIZE
from diagbridge.link import proto as P
from diagbridge.link.auth import auth_mac, WHO_HOST
from gateway_support import vehicle, VHost, ENGINE, ROLE_KEYS
from link_support import HOST_NONCE


def test_a_uds_request_whose_answer_the_host_could_not_take_never_reaches_the_ecu():
    """Through the gateway: a host that takes at most 2000-byte messages
    cannot receive a 4095-byte answer, so its REQ_UDS is refused up front
    (ERROR LINK_OVERSIZE) and nothing goes on the bus; with the default
    sizes the same request is answered."""
    for max_message, refused in ((2000, True), (None, False)):
        v = vehicle()
        h = VHost(v)
        hello = {P.K_VERSION: P.LINK_PROTOCOL_VERSION, P.K_ROLE: P.ROLE_FULL,
                 P.K_NONCE: HOST_NONCE, P.K_CREDITS: 64}
        if max_message:
            hello[P.K_MAX_MESSAGE] = max_message
        h.send(P.MSG_HELLO, 0, hello)
        ch = h.take(lambda m: m[0] == P.MSG_CHALLENGE)
        key = ROLE_KEYS[P.ROLE_FULL]
        h.mac.begin(key, P.ROLE_FULL, ch[2][P.K_NONCE])
        h.send(P.MSG_AUTH, 0, {P.K_MAC: auth_mac(hashlib.sha256, key, WHO_HOST,
                                                  P.LINK_PROTOCOL_VERSION, P.ROLE_FULL,
                                                  ch[2][P.K_NONCE], HOST_NONCE)})
        assert h.take(lambda m: m[0] == P.MSG_AUTH_OK) is not None
        h.open(1, ENGINE)
        sent = sum(v.gw.tx_frames)
        m = h.request(P.MSG_REQ_UDS, {P.K_CHANNEL: 1, P.K_DATA: b"\x22\xf1\x90"})
        if refused:
            assert m[0] == P.MSG_ERROR and m[2][P.K_CODE] == LINK_OVERSIZE, m
            assert "max_message" in m[2][P.K_TEXT] and sum(v.gw.tx_frames) == sent
        else:
            assert m[0] == P.MSG_RESPONSE and m[2][P.K_DATA][:3] == b"\x62\xf1\x90", m
            assert sum(v.gw.tx_frames) > sent
