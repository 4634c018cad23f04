"""The offline-prediction mode: every answer the form can send, scored ahead by `mldeploy batch`, looked up by key."""

from __future__ import annotations

import time
from pathlib import Path


from mldeploy._urls import masked_url
from mldeploy.errors import NotFoundError
from mldeploy.examples.careers.answer import Answer

__all__ = ["KEY_COLUMN", "OfflineMode", "precompute"]

KEY_COLUMN = "form_key"


class OfflineMode:
    """Look answers up in the prediction database; score the form's whole domain first if this version has not been.

    The table is reused while it holds one prediction per combination for the
    site's version, so a restart costs nothing; a new version means a new run.
    """

    name = "offline"

    def __init__(self, bundle, form, registry, workdir: Path, db_url: str | None = None):
        from mldeploy.batch.prediction_store import PredictionStore

        self.form = form
        self.bundle = bundle
        self.db_url = db_url or f"sqlite:///{(workdir / 'careers-predictions.db').resolve()}"
        self._store = PredictionStore(self.db_url)
        name, version = bundle.manifest.name, bundle.manifest.version
        try:
            if self._store.count(name, version) < form.size:
                precompute(bundle, form, registry, workdir, self._store)
            self.run = _latest_run(self._store, name, version)
            self.rows = self._store.count(name, version)
        except BaseException:  # a half-made mode holds no database connection
            self._store.close()
            raise

    def answer(self, row: dict) -> Answer:
        manifest = self.bundle.manifest
        found = self._store.get(manifest.name, self.form.key(row), manifest.version)
        if found is None or found.value is None:
            raise NotFoundError(f"no precomputed estimate for {self.form.key(row)} in {self.db_url}; "
                                "restart the site in offline mode to score the form again")
        return Answer(float(found.value), manifest.name, found.model_version, manifest.metrics)

    def status(self) -> dict:
        took = (self.run.finished_at - self.run.started_at).total_seconds() if self.run.finished_at else None
        when = (self.run.finished_at or self.run.updated_at).isoformat(sep=" ", timespec="seconds")
        ran = f", batch run {took:.1f} s" if took is not None else ""
        return {"detail": f"from a table of {self.rows:,} estimates (every answer the form can send) computed ahead by "
                          f"`mldeploy batch` on {when}{ran}",
                "rows": self.rows, "batch_seconds": took,
                "computed_at": (self.run.finished_at or self.run.updated_at).isoformat(timespec="seconds")}

    def close(self) -> None:
        self._store.close()


def precompute(bundle, form, registry, workdir: Path, store) -> float:
    """Score every combination of the form into ``store`` with the batch engine; return the seconds it took."""
    from mldeploy.batch.job import run_batch

    started = time.perf_counter()
    table = form.table(KEY_COLUMN)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"careers-form-{bundle.manifest.name}-{bundle.manifest.version}.parquet"
    table.to_parquet(path, index=False)
    run_batch(str(bundle.ref), path, KEY_COLUMN, store, registry=registry)
    return time.perf_counter() - started


def _latest_run(store, name: str, version: int):
    runs = [run for run in store.runs(name) if run.model_version == version and run.status == "finished"]
    if not runs:
        raise NotFoundError(f"the prediction database {masked_url(store.url)} holds {name}@{version} estimates but no finished run")
    return max(runs, key=lambda run: run.started_at)
