"""The models one server process serves: a live model and a micro-batcher per name, pinned versions on demand.

With ``ApiConfig.source`` set, every model follows that topic (through the
core's source table, :mod:`mldeploy.serving.model_source`) instead of a registry.
``name:alias`` follows its alias through the core's :class:`LiveModel` (new
versions load, verify and swap off the request path). A pinned version
(``/versions/{v}``) is loaded from the registry on first use, off the event
loop, and kept (a few at most) with a batcher of its own, so its answers
always name that version.

Every load (a swap, a pinned version) ends by freezing the garbage collector's
generations (:mod:`mldeploy.serving.frozen_heap`): collections then skip the
loaded models instead of stalling the event loop to walk them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor

from mldeploy.api.batcher import MicroBatcher
from mldeploy.api.config import ApiConfig
from mldeploy.api.metrics import ApiMetrics
from mldeploy.api.canary import Canary
from mldeploy.api.canary_spec import parse_canary
from mldeploy.api.shadow import Shadow
from mldeploy.bundle import BundleRef
from mldeploy.errors import NotFoundError, NotReadyError
from mldeploy.registry import open_registry
from mldeploy.serving import LiveModel, Model, RegistrySource, ServingPath, ModelSource, load, open_model_source
from mldeploy.serving.frozen_heap import freeze_heap

__all__ = ["Catalog", "ServedModel"]

_THREADS = 1
"""Each prediction on one thread: the server spreads requests over its workers and executor, not one request over cores."""

_PINNED_KEPT = 4
log = logging.getLogger("mldeploy.api")


class ServedModel:
    """One served name: its live model, its batcher, and the pinned versions asked for so far."""

    def __init__(self, ref: BundleRef, catalog: "Catalog"):
        self.name = ref.name
        self._catalog = catalog
        config = catalog.config
        self.live = LiveModel(catalog.source_for(ref), pin=ref.version if config.source else None,
                              trusted=config.trusted, public_key=config.public_key, cache_dir=config.cache_dir,
                              require_signed=config.public_key is not None, use_compiled=config.use_compiled,
                              freeze_heap=True, threads=_THREADS)
        self.live.on_swap(self._swapped)
        self.batcher = catalog.batcher_for(self.name, self.live.infer_accepted, lambda: self.live.model)
        self._pinned: OrderedDict[int, tuple[Model, MicroBatcher]] = OrderedDict()
        self._pinned_lock = threading.Lock()
        shadow = BundleRef.parse(config.shadow) if config.shadow is not None else None
        self.shadow: Shadow | None = Shadow(shadow, catalog) if shadow is not None and shadow.name == self.name else None
        """The challenger scoring this model's requests after each answer (``--shadow``), or None."""
        canary = parse_canary(config.canary) if config.canary is not None else None
        self.canary: Canary | None = Canary(*canary, catalog) if canary is not None and canary[0].name == self.name else None
        """The challenger answering a share of this model's requests (``--canary``), or None."""
        if self.canary is not None:
            catalog.metrics.watch_canary(self.name, self.canary)

    def _swapped(self, event) -> None:
        # Called from the live model's thread; prometheus-client is thread-safe.
        metrics = self._catalog.metrics
        metrics.swapped(self.name, event.ref.version, event.accepted, event.check)
        metrics.serving(self.name, self.live.version)
        log.log(logging.INFO if event.accepted else logging.WARNING, "%s", event.describe())

    @property
    def is_ready(self) -> bool:
        """True once a version has loaded and passed its smoke prediction, and each challenger has settled.

        Without the wait for the challengers, the first requests would miss one still loading; a challenger
        refused, or with nothing to offer yet, does not hold the server up (the champion answers).
        """
        challengers = (side for side in (self.shadow, self.canary) if side is not None)
        return self.live.is_ready and all(side.live.has_settled for side in challengers)

    @property
    def model(self) -> Model:
        """The version serving now (NotReadyError before the first)."""
        return self.live.model

    async def pinned(self, version: int) -> tuple[Model, MicroBatcher]:
        """Return version ``version`` of this model and its batcher, loading it off the loop the first time."""
        found = self._pinned.get(version)
        if found is not None:
            self._pinned.move_to_end(version)
            return found
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._catalog.loader, self._load_pinned, version)

    def is_loaded(self, version: int) -> bool:
        """True if ``version`` is serving (live or pinned) and so answers without a load."""
        return version in self._pinned or (self.live.is_ready and self.live.version == version)

    def versions(self) -> list[int]:
        """Every version of this model in the registry (reads the registry: call off the loop)."""
        if self._catalog.registry is None:  # following a topic: only the version it names is at hand
            return [self.live.version] if self.live.is_ready else []
        return [record.version for record in self._catalog.registry.versions(self.name)]

    def _load_pinned(self, version: int) -> tuple[Model, MicroBatcher]:
        if self._catalog.registry is None:
            return self._live_as_pinned(version)
        with self._pinned_lock:
            found = self._pinned.get(version)
            if found is not None:
                return found
            config = self._catalog.config
            model = load(BundleRef(self.name, version), registry=self._catalog.registry, trusted=config.trusted,
                         public_key=config.public_key, use_compiled=config.use_compiled, threads=_THREADS)
            batcher = self._catalog.batcher_for(self.name, model.infer_accepted, lambda: model)
            self._pinned[version] = (model, batcher)
            while len(self._pinned) > _PINNED_KEPT:
                self._pinned.popitem(last=False)
            freeze_heap()
            return model, batcher

    def _live_as_pinned(self, version: int) -> tuple[Model, MicroBatcher]:
        """Following a topic, a version can be asked for by number once it has served (the topic holds no other).

        It gets a batcher of its own and stays at hand like a registry's pinned version: the live
        batcher would answer with whichever version a swap put in meanwhile.
        """
        model = self.live.model
        if model.ref.version != version:
            raise NotFoundError(f"{self.name}@{version} is not at hand: this server follows {self._catalog.config.source}, "
                                f"which names {model.ref}; ask for that version, or for the model without one")
        with self._pinned_lock:
            found = self._pinned.get(version)
            if found is None or found[0] is not model:
                found = self._pinned[version] = (model, self._catalog.batcher_for(self.name, model.infer_accepted, lambda: model))
            while len(self._pinned) > _PINNED_KEPT:
                self._pinned.popitem(last=False)
            return found


class Catalog:
    """Every model this process serves, the registry they come from, and the threads that predict."""

    def __init__(self, config: ApiConfig, executor: Executor, loader: Executor, metrics: ApiMetrics):
        self.config = config
        self.executor = executor
        self.loader = loader
        self.metrics = metrics
        # Following a topic needs no registry: the topic carries the versions themselves.
        self.registry = open_registry(config.registry, public_key=config.public_key) if config.source is None else None
        self.models: dict[str, ServedModel] = {}
        try:
            for ref in config.refs:
                self.models[ref.name] = ServedModel(ref, self)
        except BaseException:
            self.close()
            raise

    def get(self, name: str) -> ServedModel:
        """Return the served model called ``name``; NotFoundError names the ones served."""
        served = self.models.get(name)
        if served is None:
            raise NotFoundError(f'this server does not serve a model "{name}"; it serves: {", ".join(self.models)}')
        return served

    def source_for(self, ref: BundleRef) -> ModelSource:
        """Where ``ref``'s versions come from: the topic the server follows, else the registry."""
        if self.config.source is not None:
            return open_model_source(self.config.source, ref.name, pin=ref.version)
        return RegistrySource(self.registry, str(ref), poll_interval_s=self.config.poll_interval_s)

    @property
    def is_ready(self) -> bool:
        """True when every served model is ready."""
        return all(served.is_ready for served in self.models.values())

    def batcher_for(self, name: str, infer: Callable, current: Callable[[], Model]) -> MicroBatcher:
        """Make a batcher over ``infer`` whose small batches run inline while ``current()`` is on the compiled path."""
        config = self.config

        def runs_inline(rows: int) -> bool:
            try:
                return rows <= config.inline_max_rows and current().path is ServingPath.COMPILED
            except NotReadyError:
                return True  # answers at once with the NotReadyError

        return MicroBatcher(lambda rows, extra: infer(rows, extra=extra, missing="as-trained", max_issues=config.max_issues),
                            self.executor,
                            max_batch_rows=config.max_batch_rows, max_wait_s=config.max_wait_ms / 1000,
                            runs_inline=runs_inline,
                            on_batch=lambda rows, pred: self.metrics.batch(name, pred.version, rows))

    def close(self) -> None:
        """Stop following aliases and close the registry."""
        for served in self.models.values():
            served.live.close()
            for challenger in (served.shadow, served.canary):
                if challenger is not None:
                    challenger.close()
        if self.registry is not None:
            self.registry.close()
