# ISO 15765-2 (DoCAN / CAN-TP) transport: sans-I/O, allocation-free per frame.
#
#   pci.py      N_PCI codec, STmin, CAN FD lengths, padding
#   addr.py     the addressing formats (normal, fixed, extended, mixed)
#   config.py   TpConfig
#   events.py   EV_* events, T_* trace codes
#   tx.py       Sender machine          rx.py   Receiver machine
#   channel.py  one link: Sender + Receiver + the unexpected-N_PDU tables
#   mux.py      many channels on one bus
from diagbridge.cantp.addr import (Address, ADDR_NORMAL_11, ADDR_NORMAL_29,
                                   ADDR_NORMAL_FIXED, ADDR_EXTENDED_11,
                                   ADDR_EXTENDED_29, ADDR_MIXED_11, ADDR_MIXED_29,
                                   TA_PHYSICAL, TA_FUNCTIONAL, FLAG_EXT, FLAG_FD,
                                   FLAG_BRS)
from diagbridge.cantp.config import TpConfig
from diagbridge.cantp.events import (EV_TX_DONE, EV_TX_FAILED, EV_RX_FF, EV_RX_DONE,
                                     EV_RX_FAILED)
from diagbridge.cantp.channel import Channel, TAG_TX, TAG_RX
from diagbridge.cantp.mux import Mux
