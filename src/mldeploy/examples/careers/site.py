"""The careers site's state: the form, the version it was started with, and one answering object per mode."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from mldeploy.errors import ConfigError
from mldeploy.examples.careers.answer import Estimate, estimate_of
from mldeploy.examples.careers.form import build_form

__all__ = ["MODES", "CareersSite", "SiteConfig"]

MODES = ("embedded", "browser", "api", "stream", "offline")
MODE_TITLES = {
    "embedded": "Embedded (server)", "browser": "Embedded (your browser)", "api": "Dedicated model API",
    "stream": "Model as data (stream)", "offline": "Offline prediction (batch)",
}


@dataclass(frozen=True)
class SiteConfig:
    """How the site runs: the model reference, the first mode, and where each mode finds what it needs."""

    ref: str = "salary:production"
    mode: str = "embedded"
    workdir: Path = Path(".mldeploy/careers")
    js_dir: Path | None = None
    """onnxruntime-web's ``dist`` folder (scripts/careers_js.sh installs it); needed by the browser mode."""
    api_url: str | None = None
    """A running `mldeploy serve` to ask; None starts one on a free port."""
    topic_url: str | None = None
    """The model topic to subscribe to; None publishes the version to a local topic under ``workdir``."""
    predictions_url: str | None = None
    """The prediction database of the offline mode; None is a sqlite file under ``workdir``."""
    wheel_module: str | None = None
    """The module of a model wheel built by `mldeploy embed` (e.g. ``salary_model``) for the embedded mode to import;
    None loads the site's version from the registry into the process instead (the same Model the wheel gives)."""
    max_years: int = 40
    max_certifications: int = 5


class CareersSite:
    """Open the reference once; make each mode's answering object when it is first asked for, then keep it.

    The first mode is made at start-up, so a broken setup fails the start,
    not the first visitor.
    """

    def __init__(self, config: SiteConfig, registry):
        import mldeploy

        check_mode(config.mode)
        self.config = config
        self.registry = registry
        self.bundle = registry.get(config.ref)
        self.model = mldeploy.load(self.bundle)
        self.form = build_form(self.bundle.schema, config.max_years, config.max_certifications)
        self._modes: dict[str, object] = {}
        self._locks = {mode: threading.Lock() for mode in MODES}
        self.mode(config.mode)

    def mode(self, name: str):
        """Return the answering object of mode ``name``, making it on first use."""
        check_mode(name)
        made = self._modes.get(name)
        if made is not None:
            return made
        with self._locks[name]:  # one lock per mode: scoring the offline table holds up no other mode
            if name not in self._modes:
                self._modes[name] = self._make(name)
            return self._modes[name]

    def estimate(self, body, mode: str) -> Estimate:
        """Check a submitted form and answer it in ``mode``; SchemaError names every bad field."""
        values = self.form.check(body)
        answering = self.mode(mode)
        return estimate_of(answering.answer(self.form.row(values)), mode)

    def close(self) -> None:
        modes, self._modes = list(self._modes.values()), {}
        for answering in modes:
            answering.close()

    def _make(self, name: str):
        config, workdir = self.config, self.config.workdir
        if name == "embedded":
            from mldeploy.examples.careers.modes import EmbeddedMode

            return EmbeddedMode(self.model) if config.wheel_module is None else EmbeddedMode.from_wheel(config.wheel_module)
        if name == "browser":
            from mldeploy.examples.careers.modes import BrowserMode

            return BrowserMode(self.model)
        if name == "api":
            from mldeploy.examples.careers.api_mode import ApiMode

            return ApiMode(self.registry, config.ref, self.bundle.manifest.name, config.api_url)
        if name == "stream":
            from mldeploy.examples.careers.stream_mode import StreamMode

            return StreamMode(self.bundle, workdir, config.topic_url)
        from mldeploy.examples.careers.offline_mode import OfflineMode

        return OfflineMode(self.bundle, self.form, self.registry, workdir, config.predictions_url)


def check_mode(name: str) -> str:
    if name not in MODES:
        raise ConfigError(f'mode "{name}": expected one of {", ".join(MODES)}')
    return name
