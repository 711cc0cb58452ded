# The UDS tester role (ISO 14229-1 client): core.py (UdsClient: one request
# at a time, P2/P2*, 0x78, keep-alive), keepalive.py (TesterPresent, §10.7),
# functional.py (one functional request, every answer in the P2 window),
# flash.py (the programming sequence), api.py (request builders and response
# decoders for the CPython facades; not frozen on a board).
