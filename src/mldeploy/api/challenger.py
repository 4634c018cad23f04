"""A challenger version of a served model: its own live model following its own alias, its own micro-batcher.

Both ``--shadow`` (:mod:`mldeploy.api.shadow`) and ``--canary``
(:mod:`mldeploy.api.canary`) run one beside the champion, with the champion's
checks, hot swap and prediction threads; ``check_challenger`` refuses one that
cannot be compared before the server starts.
"""

from __future__ import annotations

import logging

from mldeploy.api.batcher import MicroBatcher
from mldeploy.bundle import BundleRef
from mldeploy.errors import ConfigError
from mldeploy.serving import LiveModel, RegistrySource

__all__ = ["Challenger", "check_challenger"]

log = logging.getLogger("mldeploy.api")


class Challenger:
    """The challenger's live model and batcher (no cache directory: that holds the champion's last good version)."""

    def __init__(self, ref: BundleRef, catalog, role: str):
        self.ref = ref
        config = catalog.config
        self.live = LiveModel(RegistrySource(catalog.registry, str(ref), poll_interval_s=config.poll_interval_s),
                              trusted=config.trusted, public_key=config.public_key,
                              require_signed=config.public_key is not None, use_compiled=config.use_compiled)
        self.live.on_swap(lambda event: log.log(logging.INFO if event.accepted else logging.WARNING, "%s: %s", role,
                                                event.describe()))
        self.batcher: MicroBatcher = catalog.batcher_for(ref.name, self.live.infer_accepted, lambda: self.live.model)

    def close(self) -> None:
        """Stop following the challenger's alias."""
        self.live.close()


def check_challenger(registry, served: BundleRef, challenger: BundleRef, flag: str) -> None:
    """Refuse a challenger that does not exist or is the version already served (ConfigError, NotFoundError)."""
    champion, other = registry.record(served), registry.record(challenger)  # NotFoundError names a missing one
    if champion.version == other.version:
        raise ConfigError(f"{flag} {challenger} is version {other.version}, the version {served} serves; "
                          "name another version to compare with")
