# What a board freezes of diagbridge (a MicroPython manifest, micropython-lib
# style: explicit file lists, so a new module is frozen only when it is listed
# here).  A board's manifest includes it:
#
#   include("../../firmware/manifest.py")   # from boards/<board>/manifest.py
#
# Frozen: everything a board's gateway can run, i.e. what diagbridge/mpy/runner.py,
# diagbridge/gateway/ and diagbridge/ecu.py import (at module level or inside
# functions), the key-file parser, and every UDS service module (a hosted ECU's
# profile may name any of them through the SERVICES table).
# Never frozen: cpy/ (CPython adapters), sim/ (the simulation), the example
# profiles in uds/server/profiles/ (the PROFILES table is frozen; a board that
# hosts an example ECU adds its module in its own manifest), the tester's
# convenience builders (uds/client/api.py), the NRC name strings
# (uds/nrc_names.py), the simulation NVM store (uds/server/nvm.py) and, until
# a board runner drives K-Line, kline/.
# tests/test_manifest.py checks that the set is closed under imports and that
# every firmware module is either listed here or named as not on a board;
# tools/frozen_size.py prints its size.
#
# Paths are relative to this file (base_path "." is firmware/).  It lives beside
# the package, not in it (micropython-lib's layout), so no wheel or import ever
# takes it for a module: MicroPython's manifest reader runs it.  No
# metadata(): an include() shares the including manifest's metadata, which
# may be set once only.

# the shared leaves and the ECU node
package("diagbridge", base_path=".", opt=3, files=(
    "__init__.py",
    "_compat.py",
    "can.py",
    "clock.py",
    "codes.py",
    "crc.py",
    "errors.py",
    "evq.py",
    "ecu.py",
))

# ISO 15765-2 transport
package("diagbridge", base_path=".", opt=3, files=(
    "cantp/__init__.py",
    "cantp/addr.py",
    "cantp/channel.py",
    "cantp/config.py",
    "cantp/events.py",
    "cantp/mux.py",
    "cantp/pci.py",
    "cantp/rx.py",
    "cantp/tx.py",
))

# the host link (keyfile.py: the board's key file)
package("diagbridge", base_path=".", opt=3, files=(
    "link/__init__.py",
    "link/auth.py",
    "link/cobs.py",
    "link/config.py",
    "link/fragments.py",
    "link/handshake.py",
    "link/keyfile.py",
    "link/mac.py",
    "link/msgpack.py",
    "link/outq.py",
    "link/proto.py",
    "link/ring.py",
    "link/session.py",
    "link/slots.py",
))

# ISO 14229-1: identifiers, seed/key, the shared codecs
package("diagbridge", base_path=".", opt=3, files=(
    "uds/__init__.py",
    "uds/nrc.py",
    "uds/seedkey.py",
    "uds/sid.py",
    "uds/codec/__init__.py",
    "uds/codec/auth.py",
    "uds/codec/data.py",
    "uds/codec/dddid.py",
    "uds/codec/dtc.py",
    "uds/codec/ints.py",
    "uds/codec/io.py",
    "uds/codec/link.py",
    "uds/codec/memory.py",
    "uds/codec/periodic.py",
    "uds/codec/roe.py",
    "uds/codec/routine.py",
    "uds/codec/secured.py",
    "uds/codec/session.py",
    "uds/codec/transfer.py",
))

# the tester machines the gateway's jobs run (not api.py)
package("diagbridge", base_path=".", opt=3, files=(
    "uds/client/__init__.py",
    "uds/client/core.py",
    "uds/client/flash.py",
    "uds/client/functional.py",
    "uds/client/keepalive.py",
))

# the ECU role: the gateway hosts ECUs (not nvm.py, not the example profiles)
package("diagbridge", base_path=".", opt=3, files=(
    "uds/server/__init__.py",
    "uds/server/auth_crypto.py",
    "uds/server/config.py",
    "uds/server/core.py",
    "uds/server/dtc_memory.py",
    "uds/server/dtc_read.py",
    "uds/server/dtc_record.py",
    "uds/server/file_store.py",
    "uds/server/mem_store.py",
    "uds/server/pending.py",
    "uds/server/profile.py",
    "uds/server/profile_values.py",
    "uds/server/roe_engine.py",
    "uds/server/rsp_queue.py",
    "uds/server/security_access.py",
    "uds/server/seed_source.py",
    "uds/server/service.py",
    "uds/server/service_table.py",
    "uds/server/transfer_machine.py",
    "uds/server/profiles/__init__.py",
    "uds/server/services/__init__.py",
    "uds/server/services/auth.py",
    "uds/server/services/data.py",
    "uds/server/services/dddid.py",
    "uds/server/services/dtc.py",
    "uds/server/services/io.py",
    "uds/server/services/link.py",
    "uds/server/services/memory.py",
    "uds/server/services/obd.py",
    "uds/server/services/periodic.py",
    "uds/server/services/roe.py",
    "uds/server/services/routine.py",
    "uds/server/services/secured.py",
    "uds/server/services/security.py",
    "uds/server/services/session.py",
    "uds/server/services/transfer.py",
))

# the gateway router and its runner body
package("diagbridge", base_path=".", opt=3, files=(
    "gateway/__init__.py",
    "gateway/config.py",
    "gateway/core.py",
    "gateway/endpoint.py",
    "gateway/hosts.py",
    "gateway/jobs.py",
    "gateway/limits.py",
    "gateway/login.py",
    "gateway/loop.py",
    "gateway/raw.py",
    "gateway/requests.py",
    "gateway/route.py",
    "gateway/tenancy.py",
))

# the MicroPython adapters: the runner and the board drivers
package("diagbridge", base_path=".", opt=3, files=(
    "mpy/__init__.py",
    "mpy/runner.py",
    "mpy/mcp2515.py",
    "mpy/nvm_flash.py",
))
