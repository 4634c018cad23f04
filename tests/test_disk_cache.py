"""The tests' disk cache gives what a fresh fit or build gives, keys on the code, and survives racing workers."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import _bundles
import _cache
import _models
from mldeploy.bundle import Bundle, storage
from mldeploy.examples import salary

pytestmark = pytest.mark.timeout(240)


def same_state(a, b, where: str = "pipeline") -> None:
    """Assert two fitted objects hold the same state, down to every array's bytes and dtype."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        if a.dtype.hasobject:
            for index, (x, y) in enumerate(zip(a.ravel(), b.ravel())):
                same_state(x, y, f"{where}[{index}]")
        else:
            assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            same_state(x, y, f"{where}[{index}]")
    elif isinstance(a, np.random.Generator):
        same_state(a.bit_generator.state, b.bit_generator.state, where)
    elif isinstance(a, functools.partial):
        same_state((a.func, a.args, a.keywords), (b.func, b.args, b.keywords), where)
    elif isinstance(a, float) and a != a:
        assert b != b, where
    elif not (a is b or isinstance(a, (int, float, str, bytes, type, types.FunctionType, types.BuiltinFunctionType))):
        if hasattr(a, "__dict__"):
            same_state(vars(a), vars(b), where)
        else:  # an extension type (a Cython loss): the state it would be copied with
            same_state(a.__reduce_ex__(4)[1:], b.__reduce_ex__(4)[1:], where)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_a_cached_pipeline_is_the_pipeline_a_fresh_fit_gives():
    pipeline, features = _models.salary_pipeline()  # from the cache, or fitted and cached now
    stored = _cache.load_pipeline(_cache.ROOT / _cache.cache_key() / "salary-pipeline-3000-7-25")
    fresh = salary.default_pipeline(max_iter=25).fit(features, _models.salary_data()[salary.TARGET])
    same_state(pipeline, fresh)
    same_state(stored, fresh)
    rows = salary.generate(300, seed=5, drift=0.5).drop(columns=salary.TARGET)
    assert np.array_equal(pipeline.predict(rows), fresh.predict(rows))


def test_a_cached_bundle_is_the_bundle_a_fresh_build_gives(tmp_path):
    cached = _bundles.salary_bundle(tmp_path / "cached")
    pipeline, features = _models.salary_pipeline()
    fresh = Bundle.from_pipeline(pipeline, features, name="salary", directory=tmp_path / "fresh")
    assert cached.path != fresh.path and cached.path.parent == tmp_path / "cached"
    skip = {storage.PIPELINE, storage.MANIFEST}
    assert sorted(cached.manifest.files) == sorted(fresh.manifest.files)
    for name in sorted(set(cached.manifest.files) - skip):
        assert cached.read_file(name) == fresh.read_file(name), name
    same_state(cached.load_pipeline(), fresh.load_pipeline())
    made = {k: v for k, v in _manifest(fresh).items() if k not in {"created", "files", "sizes"}}
    assert {k: v for k, v in _manifest(cached).items() if k in made} == made


def _manifest(bundle: Bundle) -> dict:
    return json.loads((bundle.path / storage.MANIFEST).read_text())


def test_the_key_changes_with_the_code(tmp_path, monkeypatch):
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "a.py").write_text("A = 1\n")
    monkeypatch.setattr(_cache, "REPO", tmp_path)
    monkeypatch.setattr(_cache, "SOURCES", (source,))
    monkeypatch.setattr(_cache, "HELPERS", ())
    _cache.cache_key.cache_clear()
    try:
        first = _cache.cache_key()
        (source / "pkg" / "a.py").write_text("A = 2\n")
        _cache.cache_key.cache_clear()
        assert _cache.cache_key() != first
    finally:
        _cache.cache_key.cache_clear()


RACER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    import _cache

    _cache.ROOT = Path(sys.argv[1])
    start = float(sys.argv[2])

    def build(folder):
        for index in range(50):
            (folder / f"part-{index}").write_text(sys.argv[3] * 1000)
        (folder / "builder").write_text(sys.argv[3])

    time.sleep(max(0.0, start - time.time()))
    found = _cache.cached_folder("raced", build)
    print(found, (found / "builder").read_text())
''')


@pytest.mark.slow  # starts processes that race
def test_racing_workers_keep_one_whole_entry(tmp_path):
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    start = time.time() + 3
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path / "root"), str(start), str(n)], env=env,
                               stdout=subprocess.PIPE, text=True) for n in range(4)]
    answers = [racer.communicate(timeout=120)[0].split() for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    folders, builders = {a[0] for a in answers}, {a[1] for a in answers}
    assert len(folders) == 1 and len(builders) == 1, answers
    entry = Path(folders.pop())
    builder = builders.pop()
    assert sorted(p.name for p in entry.iterdir()) == sorted([f"part-{i}" for i in range(50)] + ["builder"])
    assert all((entry / f"part-{i}").read_text() == builder * 1000 for i in range(50))
    assert [p.name for p in entry.parent.iterdir()] == ["raced"]  # the losers' temporary folders are gone
