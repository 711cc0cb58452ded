"""The gateway daemon (CPython, ``diagbridge-gw``): ``daemon`` (command line),
``config`` (board file, key file), ``runner`` (the I/O loop around one
portable Gateway), ``link`` (TCP and serial host-link transports),
``backoff`` (the failed-login back-off per peer address)."""
