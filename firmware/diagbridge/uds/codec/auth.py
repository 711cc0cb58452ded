# Layouts of Authentication 0x29 (ISO 14229-1:2020 §10.6, uds-digest §7.2),
# shared by the client and the server role.  Tables 65-85 are missing from
# the source: the layouts are ISO 14229-1:2020 [K], confirmed by udsoncan
# and py-uds.  Every length field is 2 bytes, big-endian.
#
#   request   29 SF <fields of REQUEST_LAYOUT[SF]>
#   response  69 SF <fields of RESPONSE_LAYOUT[SF]>   (the first is the
#             authenticationReturnParameter)
#
# A layout is a tuple of field kinds:
#   F_BYTE   one byte (communicationConfiguration, authenticationReturnParameter)
#   F_U16    a 2-byte value (certificateEvaluationId)
#   F_AI     algorithmIndicator: 16 bytes (a BER OID, zero-padded on the right)
#   F_LV0    2-byte length + that many bytes; the length may be 0
#   F_LV1    2-byte length + that many bytes; the length must be at least 1
#
#   n = build_auth_request(out, sf, fields)    fields: one value per field
#   r = parse_auth_request(data, n)            (sf, [values]) or None
#   n = build_auth_response(out, sf, fields)
#   r = parse_auth_response(data, n)           (sf, [values]) or None
# A parsed F_BYTE / F_U16 is an int, an F_AI / F_LV* is bytes.  A parse
# returns None for any PDU the layout does not fit exactly: a wrong SID, an
# unknown sub-function, a truncated field, a length pointing past the end,
# a zero length where the standard needs one, or bytes after the last field.
# Building with the wrong number of fields, a field too long for its length
# or a buffer too small raises UsageError (a caller's mistake).
# Authentication is not a per-frame path: a parse allocates its values.
from diagbridge._compat import const
from diagbridge.errors import UsageError
from diagbridge.uds.sid import SID_ARS

# sub-functions (§10.6, digest §7.2)
SF_DEAUTHENTICATE = const(0x00)
SF_VERIFY_CERT_UNI = const(0x01)        # verifyCertificateUnidirectional
SF_VERIFY_CERT_BI = const(0x02)         # verifyCertificateBidirectional
SF_PROOF_OF_OWNERSHIP = const(0x03)
SF_TRANSMIT_CERT = const(0x04)          # transmitCertificate
SF_REQUEST_CHALLENGE = const(0x05)      # requestChallengeForAuthentication
SF_VERIFY_POWN_UNI = const(0x06)        # verifyProofOfOwnershipUnidirectional
SF_VERIFY_POWN_BI = const(0x07)         # verifyProofOfOwnershipBidirectional
SF_AUTH_CONFIG = const(0x08)            # authenticationConfiguration

# authenticationReturnParameter (Table B.5 [K], digest §7.3)
RV_REQUEST_ACCEPTED = const(0x00)
RV_GENERAL_REJECT = const(0x01)
RV_AUTH_CONFIG_APCE = const(0x02)
RV_AUTH_CONFIG_ACR_ASYM = const(0x03)
RV_AUTH_CONFIG_ACR_SYM = const(0x04)
RV_DEAUTHENTICATION_SUCCESSFUL = const(0x10)
RV_CERT_VERIFIED_OWNERSHIP_NEEDED = const(0x11)
RV_OWNERSHIP_VERIFIED_AUTH_COMPLETE = const(0x12)
RV_CERT_VERIFIED = const(0x13)

RV_NAMES = {
    0x00: "RequestAccepted",
    0x01: "GeneralReject",
    0x02: "AuthenticationConfiguration APCE",
    0x03: "AuthenticationConfiguration ACR with asymmetric cryptography",
    0x04: "AuthenticationConfiguration ACR with symmetric cryptography",
    0x10: "DeAuthentication successful",
    0x11: "CertificateVerified, OwnershipVerificationNecessary",
    0x12: "OwnershipVerified, AuthenticationComplete",
    0x13: "CertificateVerified",
}


def rv_name(rv):
    """The Table B.5 name of an authenticationReturnParameter value."""
    s = RV_NAMES.get(rv)
    if s is not None:
        return s
    if 0xA0 <= rv <= 0xCF:
        return "vehicleManufacturerSpecific"
    if 0xD0 <= rv <= 0xFE:
        return "systemSupplierSpecific"
    return "ISOSAEReserved"


F_BYTE = const(1)
F_U16 = const(2)
F_AI = const(3)
F_LV0 = const(4)
F_LV1 = const(5)

AI_LEN = const(16)

REQUEST_LAYOUT = {
    0x00: (),
    # communicationConfiguration, certificateClient, challengeClient (may be empty)
    0x01: (F_BYTE, F_LV1, F_LV0),
    # communicationConfiguration, certificateClient, challengeClient (mandatory)
    0x02: (F_BYTE, F_LV1, F_LV1),
    # proofOfOwnershipClient, ephemeralPublicKeyClient
    0x03: (F_LV1, F_LV0),
    # certificateEvaluationId, certificateData
    0x04: (F_U16, F_LV1),
    # communicationConfiguration, algorithmIndicator
    0x05: (F_BYTE, F_AI),
    # algorithmIndicator, proofOfOwnershipClient, challengeClient, additionalParameter
    0x06: (F_AI, F_LV1, F_LV0, F_LV0),
    0x07: (F_AI, F_LV1, F_LV1, F_LV0),
    0x08: (),
}

RESPONSE_LAYOUT = {
    0x00: (F_BYTE,),
    # rv, challengeServer, ephemeralPublicKeyServer
    0x01: (F_BYTE, F_LV1, F_LV0),
    # rv, challengeServer, certificateServer, proofOfOwnershipServer, ephemeralPublicKeyServer
    0x02: (F_BYTE, F_LV1, F_LV1, F_LV1, F_LV0),
    # rv, sessionKeyInfo
    0x03: (F_BYTE, F_LV0),
    0x04: (F_BYTE,),
    # rv, algorithmIndicator, challengeServer, neededAdditionalParameter
    0x05: (F_BYTE, F_AI, F_LV1, F_LV0),
    # rv, algorithmIndicator, sessionKeyInfo
    0x06: (F_BYTE, F_AI, F_LV0),
    # rv, algorithmIndicator, proofOfOwnershipServer, sessionKeyInfo
    0x07: (F_BYTE, F_AI, F_LV1, F_LV0),
    0x08: (F_BYTE,),
}


def ai_from_oid(oid):
    """The 16-byte algorithmIndicator of a dotted OID ("1.3.101.112"): BER
    tag 06, length, value, zero-padded on the right (§10.6.8.4 note 1)."""
    parts = [int(x) for x in oid.split(".")]
    if len(parts) < 2 or parts[0] > 2 or parts[1] > 39:
        raise UsageError("oid")
    body = bytearray()
    for i in range(len(parts) - 1):
        v = parts[0] * 40 + parts[1] if i == 0 else parts[i + 1]
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        for j in range(len(enc) - 1, -1, -1):
            body.append(enc[j])
    if len(body) > AI_LEN - 2:
        raise UsageError("oid")
    out = bytearray(AI_LEN)
    out[0] = 0x06
    out[1] = len(body)
    out[2:2 + len(body)] = body
    return bytes(out)


# algorithmIndicators with a name in the digest (§7.2)
AI_RSASSA_PSS = ai_from_oid("1.2.840.113549.1.1.10")
AI_AES128 = ai_from_oid("2.16.840.1.101.3.4.1.2")      # AES-128 (the §10.6.8.6 example)
AI_ECDSA_SHA256 = ai_from_oid("1.2.840.10045.4.3.2")
AI_ED25519 = ai_from_oid("1.3.101.112")
AI_HMAC_SHA256 = ai_from_oid("1.2.840.113549.2.9")


def _build(out, rsid, sf, layout, fields):
    if len(fields) != len(layout):
        raise UsageError("fields")
    out[0] = rsid
    out[1] = sf
    p = 2
    for i in range(len(layout)):
        k = layout[i]
        v = fields[i]
        if k == F_BYTE:
            out[p] = v & 0xFF
            p += 1
        elif k == F_U16:
            out[p] = (v >> 8) & 0xFF
            out[p + 1] = v & 0xFF
            p += 2
        elif k == F_AI:
            if len(v) > AI_LEN:
                raise UsageError("algorithmIndicator")
            for j in range(AI_LEN):
                out[p + j] = v[j] if j < len(v) else 0
            p += AI_LEN
        else:
            m = len(v)
            if m > 0xFFFF:
                raise UsageError("field length")
            out[p] = m >> 8
            out[p + 1] = m & 0xFF
            p += 2
            for j in range(m):
                out[p + j] = v[j]
            p += m
    return p


def _parse(data, n, rsid, layouts):
    if n < 2 or data[0] != rsid:
        return None
    sf = data[1] & 0x7F
    layout = layouts.get(sf)
    if layout is None:
        return None
    p = 2
    vals = []
    for k in layout:
        if k == F_BYTE:
            if p + 1 > n:
                return None
            vals.append(data[p])
            p += 1
        elif k == F_U16:
            if p + 2 > n:
                return None
            vals.append((data[p] << 8) | data[p + 1])
            p += 2
        elif k == F_AI:
            if p + AI_LEN > n:
                return None
            vals.append(bytes(data[p:p + AI_LEN]))
            p += AI_LEN
        else:
            if p + 2 > n:
                return None
            m = (data[p] << 8) | data[p + 1]
            p += 2
            if (m == 0 and k == F_LV1) or p + m > n:
                return None
            vals.append(bytes(data[p:p + m]))
            p += m
    if p != n:
        return None                     # bytes after the last field
    return sf, vals


def build_auth_request(out, sf, fields=(), suppress=False):
    """29 SF fields..., per REQUEST_LAYOUT[sf]; the length written."""
    layout = REQUEST_LAYOUT.get(sf)
    if layout is None:
        raise UsageError("sub-function")
    return _build(out, SID_ARS, sf | (0x80 if suppress else 0), layout, fields)


def parse_auth_request(data, n):
    """(sf, values) of a 0x29 request that fits its layout exactly, or None."""
    return _parse(data, n, SID_ARS, REQUEST_LAYOUT)


def build_auth_response(out, sf, fields):
    """69 SF rv fields..., per RESPONSE_LAYOUT[sf]; the length written."""
    layout = RESPONSE_LAYOUT.get(sf)
    if layout is None:
        raise UsageError("sub-function")
    return _build(out, SID_ARS + 0x40, sf, layout, fields)


def parse_auth_response(data, n):
    """(sf, values) of a 0x69 response that fits its layout exactly, or None."""
    return _parse(data, n, SID_ARS + 0x40, RESPONSE_LAYOUT)


# ---- the project's token and session-key formats (both roles) ------------------
# ISO leaves the signed content of a proof of ownership and the session key /
# sessionKeyInfo formats to the implementation (§10.6.2, digest §7.7); these
# pin diagbridge's, in the ISO/IEC 9798-3 style the standard recommends.
#   APCE, the client's POWN signs   challengeServer || challengeClient || ephemeralPublicKeyClient
#   APCE, the server's POWN signs   challengeClient || challengeServer || ephemeralPublicKeyServer
#   ACR, the client's POWN covers   challengeServer || challengeClient || additionalParameter
#   ACR, the server's POWN covers   challengeClient || challengeServer
#   session key      = HKDF-SHA256(secret, salt = challengeServer, info = SESSION_KEY_INFO, 16)
#   sessionKeyInfo   = HKDF-SHA256(session key, salt = challengeServer, info = KEY_CONFIRM_INFO, 16)
# (secret: the ephemeral ECDH shared secret for APCE, the pre-shared key for
# symmetric ACR); the client derives the same key and checks sessionKeyInfo
# against it before it uses the key (§10.6.2 step 5).
SESSION_KEY_INFO = b"diagbridge 0x29 session key"
KEY_CONFIRM_INFO = b"diagbridge 0x29 sessionKeyInfo"
SESSION_KEY_LEN = const(16)


def apce_client_content(challenge_server, challenge_client, eph_client):
    return bytes(challenge_server) + bytes(challenge_client) + bytes(eph_client)


def apce_server_content(challenge_client, challenge_server, eph_server):
    return bytes(challenge_client) + bytes(challenge_server) + bytes(eph_server)


def acr_client_content(challenge_server, challenge_client, additional):
    return bytes(challenge_server) + bytes(challenge_client) + bytes(additional)


def acr_server_content(challenge_client, challenge_server):
    return bytes(challenge_client) + bytes(challenge_server)


def session_keys(hkdf, secret, challenge_server):
    """(session key, sessionKeyInfo) from `secret`; hkdf(secret, salt, info, n)."""
    key = hkdf(secret, challenge_server, SESSION_KEY_INFO, SESSION_KEY_LEN)
    return key, hkdf(key, challenge_server, KEY_CONFIRM_INFO, SESSION_KEY_LEN)
