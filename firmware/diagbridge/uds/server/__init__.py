# The UDS ECU role (ISO 14229-1 server): core.py (UdsServer: the general
# checks in the standard's NRC order, sessions, timing, response pending),
# service.py (the contract service modules follow), service_table.py,
# config.py, rsp_queue.py, pending.py; profile.py (an ECU described as data),
# nvm.py; engines and stores: security_access.py, transfer_machine.py,
# mem_store.py, file_store.py, dtc_memory.py, dtc_record.py, dtc_read.py,
# roe_engine.py; services/ (one module per service group, found through the
# SERVICES table) and profiles/ (example ECUs, the PROFILES table).
