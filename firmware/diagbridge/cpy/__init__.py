"""CPython adapters: the gateway on a Pi or a laptop (python-can, pyserial,
files).  Thin: no protocol logic; the core does that.  One folder per product:

    cantp/     CAN-TP over python-can (blocking and asyncio fronts, can-isotp style)
    uds/       UDS tester facades over a CAN-TP channel (blocking and asyncio)
    gateway/   the gateway daemon ``diagbridge-gw`` (board file, runner, host-link ports)
    ecu/       an ECU profile served on a bus (``diagbridge ecu``)
    clock.py, nvm_file.py, files_os.py   platform services the products share
"""
