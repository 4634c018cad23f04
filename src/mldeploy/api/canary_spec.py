"""The ``--canary REF=P%`` flag, parsed without importing the canary itself (the CLI parses it for every ``serve``)."""

from __future__ import annotations

import re

from mldeploy.bundle.ref import BundleRef
from mldeploy.errors import ConfigError

__all__ = ["parse_canary"]

_CANARY = re.compile(r"^(?P<ref>[^=]+)=(?P<share>[0-9]+(?:\.[0-9]+)?)%?$")


def parse_canary(text: str) -> tuple[BundleRef, float]:
    """Parse ``REF=P%`` (``salary:staging=10%``); ConfigError names what is wrong."""
    found = _CANARY.match(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ConfigError(f"--canary {text!r} is not REF=P%: give the challenger and its share, e.g. salary:staging=10%")
    share = float(found.group("share"))
    if not 0 <= share <= 100:
        raise ConfigError(f"--canary {text}: the share must be from 0 to 100 %, got {found.group('share')}")
    return BundleRef.parse(found.group("ref")), share
