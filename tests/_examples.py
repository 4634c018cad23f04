"""How many examples a property test tries: its full count, or a quarter of it in `make test-fast`.

The fast tier is for the edit-test loop; `make test` (CI's command) always tries the full count.
"""

from __future__ import annotations

import os

FAST_TIER = os.environ.get("MLDEPLOY_TEST_TIER") == "fast"


def examples(full: int) -> int:
    """Return ``full``, or a quarter of it (at least 5) when the fast tier runs."""
    return max(5, full // 4) if FAST_TIER else full
