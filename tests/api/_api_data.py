"""Data the API tests share: the test server's token, rows as JSON records, retrained salary versions.

Kept out of conftest.py: tests import these by name, and two conftest modules (tests/api, tests/contract)
cannot both be imported as ``conftest`` in one session.
"""

from __future__ import annotations

import _models
from mldeploy.bundle import Bundle

TOKEN = "s3cret-token"


def retrained_bundle(seed: int, directory) -> Bundle:
    """A salary version trained on other rows, without a compiled form (so it builds and loads in seconds)."""
    pipeline, features = _models.salary_pipeline(1500, seed, 10)
    return Bundle.from_pipeline(pipeline, features, name="salary", directory=directory, compile=False)


def records(frame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN as None)."""
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def refused_serve(capsys, registry: str, *flags: str) -> str:
    """Run ``mldeploy serve salary:production FLAGS`` in this process; assert it is refused before starting (exit 2,
    one line, nothing served) and return that line."""
    import _cli

    code, out, err = _cli.run(capsys, "--registry", registry, "serve", "salary:production", "--port", "0", *flags)
    assert code == 2 and "serving" not in out, (code, out, err)
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()
