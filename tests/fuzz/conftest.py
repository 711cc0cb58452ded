"""Hypothesis profiles for the fuzz suite.

"bounded" (the default, what ./tools/test runs): 200 examples per test,
derandomized so every run feeds the same inputs, no deadline (virtual-time
scenarios vary in cost), no example database written into the tree.
"long" (tools/fuzz --hypothesis): DIAGBRIDGE_FUZZ_EXAMPLES examples per test,
random, for long runs.  DIAGBRIDGE_FUZZ_PROFILE picks the profile."""
import os

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("bounded", max_examples=200, deadline=None, derandomize=True,
                          database=None, suppress_health_check=_QUIET, print_blob=True)
settings.register_profile("long", max_examples=int(os.environ.get("DIAGBRIDGE_FUZZ_EXAMPLES",
                                                                  "100000")),
                          deadline=None, database=None, suppress_health_check=_QUIET,
                          print_blob=True)
settings.load_profile(os.environ.get("DIAGBRIDGE_FUZZ_PROFILE", "bounded"))
