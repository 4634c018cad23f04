"""Read ``ops.toml``: the freshness loop's model, data, gate and fan-out targets, as frozen dataclasses.

Every table and key is declared by a dataclass field, so an unknown key (a
typo that would silently be ignored) is refused naming the key and where it
is, and each value is checked by its dataclass. Relative paths are taken
from the file's folder. Example ``ops.toml``::

    [model]
    name = "salary"
    alias = "production"
    target = "salary"

    [data]
    current = "last_week.parquet"     # drift is measured on it, and a challenger trained on it
    holdout = "holdout.parquet"

    [gate]
    latency_budget_ms = 250
    metrics = [{metric = "mae", tolerance = 0.02}, {metric = "r2", threshold = 0.8}]
    slices = [{column = "city", min_rows = 50, tolerance = 0.1}]

    [[targets.batch]]
    name = "nightly"
    input = "people.parquet"
    key = "employee_id"
    store = "sqlite:///predictions.db"
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mldeploy.batch.job_config import BatchJobConfig
from mldeploy.bundle import BundleRef
from mldeploy.errors import ConfigError
from mldeploy.ops.gate_rules import GateConfig, MetricRule, SliceRule

__all__ = ["BatchTarget", "DataConfig", "EmbeddedTarget", "LoopConfig", "ModelConfig", "OpsConfig", "PublishTarget",
           "TargetsConfig", "load_config", "parse_config"]


@dataclass(frozen=True)
class ModelConfig:
    """The model the loop keeps fresh."""

    name: str
    target: str
    """The column a challenger learns and the gate measures."""
    alias: str = "production"

    def __post_init__(self):
        BundleRef.check_name(self.name)
        BundleRef.check_alias(self.alias)


@dataclass(frozen=True)
class DataConfig:
    """Where the loop reads its tables."""

    current: Path
    """Recent rows (with the target): drift is measured on them and a challenger is trained on them."""
    holdout: Path
    """Rows with the target that the gate compares challenger and champion on."""


@dataclass(frozen=True)
class LoopConfig:
    """How often the loop runs and how long its lock lasts."""

    interval_s: float = 3600.0
    lock_lease_s: float = 900.0
    """How long a loop's lock lasts without renewal; a dead holder on this machine is replaced at once."""
    test_size: float = 0.2
    seed: int = 0

    def __post_init__(self):
        for name in ("interval_s", "lock_lease_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ConfigError(f"loop.{name} must be a number of seconds > 0, got {value!r}")
        if not 0.05 <= self.test_size <= 0.5:
            raise ConfigError(f"loop.test_size must lie in [0.05, 0.5], got {self.test_size!r}")


@dataclass(frozen=True)
class BatchTarget:
    """A batch job re-run for each version the alias moves to."""

    name: str
    input: Path
    key: str
    store: str = BatchJobConfig.store_url

    @property
    def label(self) -> str:
        """How deliveries and reports name this target."""
        return f"batch:{self.name}"


@dataclass(frozen=True)
class EmbeddedTarget:
    """A wheel built into ``out`` for each version, and the apps that must be rebuilt with it."""

    out: Path
    apps: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How deliveries and reports name this target."""
        return f"embedded:{self.out}"


@dataclass(frozen=True)
class PublishTarget:
    """A model topic the loop publishes each version to (when no ``publish --follow`` relay runs)."""

    url: str

    @property
    def label(self) -> str:
        """How deliveries and reports name this target."""
        return f"publish:{self.url}"


@dataclass(frozen=True)
class TargetsConfig:
    """Where a promotion fans out besides the API servers that follow the alias themselves."""

    batch: tuple[BatchTarget, ...] = ()
    embedded: tuple[EmbeddedTarget, ...] = ()
    publish: tuple[PublishTarget, ...] = ()

    @property
    def all(self) -> tuple:
        """Every target, batch jobs first."""
        return (*self.batch, *self.embedded, *self.publish)


@dataclass(frozen=True)
class OpsConfig:
    """The whole ``ops.toml``."""

    model: ModelConfig
    data: DataConfig
    gate: GateConfig = field(default_factory=GateConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    targets: TargetsConfig = field(default_factory=TargetsConfig)
    drift: dict = field(default_factory=dict)
    """Drift thresholds, ``{"psi": 0.3, "city.unseen_share": 0.2}``, as :func:`mldeploy.ops.drift.drift` takes them."""


def load_config(path: str | Path) -> OpsConfig:
    """Read and check an ``ops.toml`` file; relative paths in it are relative to its folder."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the config {path}: {exc.strerror}; give an existing ops.toml") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return parse_config(raw, base=path.parent, where=str(path))


def parse_config(raw: dict, base: Path = Path("."), where: str = "ops.toml") -> OpsConfig:
    """Build an :class:`OpsConfig` from parsed TOML, refusing unknown keys and missing required ones."""
    _known(raw, OpsConfig, where, "")
    if "model" not in raw or "data" not in raw:
        missing = [key for key in ("model", "data") if key not in raw]
        raise ConfigError(f"{where}: the [{missing[0]}] table is required")
    gate = dict(_table(raw, "gate", where))
    _known(gate, GateConfig, where, "gate.")
    gate["metrics"] = tuple(_build(MetricRule, item, where, f"gate.metrics[{i}].") for i, item in enumerate(gate.get("metrics", ())))
    gate["slices"] = tuple(_build(SliceRule, item, where, f"gate.slices[{i}].") for i, item in enumerate(gate.get("slices", ())))
    data = {key: base / value if isinstance(value, str) else value for key, value in _table(raw, "data", where).items()}
    targets = _table(raw, "targets", where)
    _known(targets, TargetsConfig, where, "targets.")
    built = TargetsConfig(
        batch=tuple(_build(BatchTarget, {**item, "input": base / item["input"]} if isinstance(item.get("input"), str) else item,
                           where, f"targets.batch[{i}].") for i, item in enumerate(targets.get("batch", ()))),
        embedded=tuple(_build(EmbeddedTarget, {**item, "out": base / item["out"], "apps": tuple(item.get("apps", ()))}
                              if isinstance(item.get("out"), str) else item, where, f"targets.embedded[{i}].")
                       for i, item in enumerate(targets.get("embedded", ()))),
        publish=tuple(_build(PublishTarget, item, where, f"targets.publish[{i}].") for i, item in enumerate(targets.get("publish", ()))),
    )
    return OpsConfig(
        model=_build(ModelConfig, _table(raw, "model", where), where, "model."),
        data=_build(DataConfig, data, where, "data."),
        gate=_build(GateConfig, gate, where, "gate."),
        loop=_build(LoopConfig, _table(raw, "loop", where), where, "loop."),
        targets=built,
        drift=_drift_thresholds(_table(raw, "drift", where), where),
    )


def _drift_thresholds(table: dict, where: str) -> dict:
    """Flatten ``[drift]`` (``city.unseen_share = 0.2`` is a nested table in TOML) and check it as drift does."""
    from mldeploy.ops.drift_thresholds import Thresholds

    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{inner}": number for inner, number in value.items()})
        else:
            flat[key] = value
    try:
        Thresholds.parse(flat)
    except ConfigError as exc:
        raise ConfigError(f"{where}: drift: {exc}") from exc
    return flat


def _table(raw: dict, key: str, where: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table, got {type(value).__name__}")
    return value


def _known(table: dict, cls, where: str, prefix: str) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [key for key in table if key not in names]
    if unknown:
        raise ConfigError(f'{where}: unknown key "{prefix}{unknown[0]}"; known keys there: {", ".join(sorted(names))}')


def _build(cls, table, where: str, prefix: str):
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.')} must be a table, got {type(table).__name__}")
    _known(table, cls, where, prefix)
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in table]
    if required:
        raise ConfigError(f'{where}: key "{prefix}{required[0]}" is required')
    try:
        return cls(**table)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {prefix.rstrip('.')}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {prefix.rstrip('.')}: {exc}") from exc
