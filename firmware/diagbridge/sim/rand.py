# Deterministic randomness for simulations and tests: the same seed gives the
# same bytes on every interpreter, so traces stay comparable between runs.


class DeterministicRandom:
    """A urandom(n) replacement: a 31-bit LCG, one byte per step."""

    def __init__(self, seed=12345):
        self.x = seed

    def __call__(self, n):
        out = bytearray(n)
        for i in range(n):
            self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
            out[i] = (self.x >> 16) & 0xFF
        return bytes(out)
