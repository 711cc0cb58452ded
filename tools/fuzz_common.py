"""What the fuzz targets share (tools/fuzz_targets.py has the table of
targets): the start tick, the result codes a property may see, random bytes."""
from diagbridge import codes as C
from diagbridge.clock import TICKS_PERIOD
from diagbridge.uds import nrc as NRC

T0 = TICKS_PERIOD - 2_000_000      # every run crosses the tick wrap

N_CODES = frozenset((C.N_OK, C.N_TIMEOUT_A, C.N_TIMEOUT_BS, C.N_TIMEOUT_CR, C.N_WRONG_SN,
                     C.N_INVALID_FS, C.N_UNEXP_PDU, C.N_WFT_OVRN, C.N_BUFFER_OVFLW,
                     C.N_ERROR))
LINK_CODES = frozenset(v for k, v in vars(C).items() if k.startswith("LINK_"))
KNOWN_NRCS = frozenset(v for k, v in vars(NRC).items()
                       if k.startswith("NRC_") and isinstance(v, int) and v != NRC.NRC_PR)


def rbytes(rnd, lo, hi):
    """lo..hi random bytes."""
    return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(lo, hi)))
