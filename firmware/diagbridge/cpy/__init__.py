"""CPython adapters: the gateway on a Pi or a laptop (python-can, pyserial,
files).  Thin: no protocol logic; the core does that."""
