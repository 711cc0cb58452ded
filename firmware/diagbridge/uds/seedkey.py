# SecurityAccess (0x27) seed-to-key algorithms, one copy for both roles: the
# server checks a key with compute_key(), a tester makes one with
# key_function() (diagbridge.uds.flash, the gateway's flash jobs, the CPython
# facades).  Algorithms:
#   "diagbridge1" (default): for i in 0..n-1, with s = seed, k = secret,
#       x = s[i] ^ k[i % len(k)];  x = rotl8(x, 3);  key[i] = (x + s[(i+1) % n]) & 0xFF
#   "twos_complement": key = 2**(8n) - seed (the §10.4.5 example: 3657 -> C9A9)
#   "xor": key[i] = s[i] ^ k[i % len(k)]
#   a callable fn(seed, n, secret, out) writing n key bytes into out

ALGORITHMS = ("diagbridge1", "twos_complement", "xor")


def compute_key(alg, seed, n, secret, out):
    """Write the n-byte key for seed[0:n] into out[0:n]; False if alg is unknown."""
    if callable(alg):
        alg(seed, n, secret, out)
        return True
    m = len(secret)
    if alg == "diagbridge1":
        for i in range(n):
            x = seed[i] ^ secret[i % m]
            x = ((x << 3) | (x >> 5)) & 0xFF
            j = i + 1
            if j == n:
                j = 0
            out[i] = (x + seed[j]) & 0xFF
        return True
    if alg == "twos_complement":
        carry = 1
        for i in range(n - 1, -1, -1):
            x = (seed[i] ^ 0xFF) + carry
            out[i] = x & 0xFF
            carry = x >> 8
        return True
    if alg == "xor":
        for i in range(n):
            out[i] = seed[i] ^ secret[i % m]
        return True
    return False


def key_function(algorithm="diagbridge1", secret=b""):
    """A tester's key function fn(level, seed) -> key bytes over compute_key."""
    secret = bytes(secret)

    def fn(level, seed):
        out = bytearray(len(seed))
        compute_key(algorithm, seed, len(seed), secret, out)
        return bytes(out)
    return fn
