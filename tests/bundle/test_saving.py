"""The pipeline's skops archive: compact, loaded again before it is kept, and skops's own layout where it must be."""

import io
import json
import sys
import zipfile

import numpy as np
import pytest
import skops.io

import _models
from mldeploy.bundle.saving import saved_pipeline
from mldeploy.errors import UntrustedTypesError


def _schema(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("schema.json").decode()


def _without_ids(state):
    """The schema without what names objects by their id() in the saving process (different in every dump)."""
    if isinstance(state, dict):
        return {key: _without_ids(value) for key, value in state.items() if key not in ("__id__", "file")}
    return [_without_ids(value) for value in state] if isinstance(state, list) else state


def test_the_archive_loads_under_skops_and_predicts_what_the_pipeline_predicts():
    pipeline, features = _models.salary_pipeline()
    data = saved_pipeline(pipeline)
    loaded = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    assert np.array_equal(loaded.predict(features), pipeline.predict(features))


def test_the_schema_is_compact_json_holding_what_skops_writes():
    pipeline, _ = _models.salary_pipeline()
    ours, theirs = _schema(saved_pipeline(pipeline)), _schema(skops.io.dumps(pipeline))
    assert "\n" not in ours and len(ours) < len(theirs) * 0.7
    assert _without_ids(json.loads(ours)) == _without_ids(json.loads(theirs))


def test_a_skops_without_its_save_context_gets_its_own_dumps(monkeypatch):
    pipeline, _ = _models.salary_pipeline()
    monkeypatch.setitem(sys.modules, "skops.io._utils", None)  # importing from it raises ImportError
    schema = _schema(saved_pipeline(pipeline))
    assert schema.startswith('{\n  "')  # skops's indented layout
    assert _without_ids(json.loads(schema)) == _without_ids(json.loads(_schema(skops.io.dumps(pipeline))))


def test_a_type_the_loader_would_not_trust_is_named_when_the_archive_is_made():
    pipeline, _ = _models.custom_pipeline()
    with pytest.raises(UntrustedTypesError, match="custom_features.ExperienceRatio"):
        saved_pipeline(pipeline)
    assert saved_pipeline(pipeline, _models.CUSTOM_TYPES)
