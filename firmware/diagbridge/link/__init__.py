# The host link: framing (cobs, crc16), the msgpack subset, the protocol
# definition (proto: THE one versioned list of kinds, keys and roles), HMAC
# authentication (auth), the frame MAC every frame carries after a keyed
# login (mac: the design and its costs) and the gateway-side session machine
# (session, with its handshake checks in handshake, outbound queues in outq,
# held requests in slots, the reassembly of FRAGMENTs in fragments).
# Import the submodules directly (from diagbridge.link.proto import ...);
# this file stays empty so a board pays only for what it imports.
