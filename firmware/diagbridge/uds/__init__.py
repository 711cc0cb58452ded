# ISO 14229-1 (UDS), one folder per role.  Faces stay empty (as link/), so a
# board pays only for the modules it imports.
#
#   sid.py  nrc.py     identifiers and NRC names, one vocabulary for both roles
#   seedkey.py         SecurityAccess seed-to-key algorithms (both roles)
#   codec/             request/response layouts shared by client and server
#   client/            the tester role: core (UdsClient), keepalive, functional,
#                      flash, api (convenience request builders and decoders)
#   server/            the ECU role: core (UdsServer), its checks and timing,
#                      profile, nvm, engines and stores, services/ (one module
#                      per service group), profiles/ (example ECUs)
#
# Rules (tests/test_import_rules.py): codec imports neither role; client never
# imports server, server never imports client.
