# CAN frame facts every layer shares, one copy (a leaf: every folder may use it).
#
# Frame flags: the 5th argument of feed_frame / feed_can, a transport's
# tx_flags, and (the same bits) the host link's CAN_* flags (link/proto.py).
from diagbridge._compat import const

FLAG_EXT = const(1)     # 29-bit identifier
FLAG_FD = const(2)      # CAN FD frame
FLAG_BRS = const(4)     # CAN FD bit rate switch

# DLC -> data length, index = DLC (ISO 11898-1: classical 0..8; FD 9..15 -> 12..64).
DLC_LENGTHS = b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0c\x10\x14\x18\x20\x30\x40"
