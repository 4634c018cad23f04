"""`import mldeploy` stays light, and the package exports what it says it does."""

import subprocess
import sys

import pytest

import mldeploy

pytestmark = pytest.mark.timeout(60)

HEAVY = ["starlette", "fastapi", "uvicorn", "flask", "confluent_kafka", "psycopg", "sqlalchemy", "pyspark", "onnxruntime", "onnx", "typer", "rich"]


def test_import_pulls_in_no_heavy_package():
    code = "import sys, mldeploy; print(','.join(m for m in %r if m in sys.modules))" % HEAVY
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"import mldeploy loaded: {loaded}"


def test_loading_an_embedded_model_needs_no_database_driver_or_web_framework():
    code = (
        "import sys, mldeploy.serving.model; "
        "print(','.join(m for m in ['psycopg', 'starlette', 'confluent_kafka', 'pyspark', 'flask'] if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""


def test_all_is_sorted_and_complete():
    assert mldeploy.__all__ == sorted(mldeploy.__all__)
    for name in mldeploy.__all__:
        assert getattr(mldeploy, name) is not None
    public = {n for n in vars(mldeploy) if not n.startswith("_") and n[0].isupper() or n == "load"}
    assert public <= set(mldeploy.__all__)


def test_the_command_line_starts_without_pandas_scikit_learn_or_a_database_layer():
    """Every `mldeploy` command (even --help) imports the command table: it must stay under half a second."""
    heavy = ["pandas", "sklearn", "scipy", "sqlalchemy", "pyarrow", "skops", "numba", "onnxruntime"]
    code = "import sys, mldeploy.cli.commands; print(','.join(m for m in %r if m in sys.modules))" % heavy
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"import mldeploy.cli.commands loaded: {loaded}"


def test_a_compiled_regressor_predicts_without_scikit_learn_skops_or_scipy_special(salary_registry):
    """A regressor's compiled form needs neither its pipeline nor the classifiers' functions (0.1 s of start-up)."""
    import json

    import _models

    row = json.dumps(_models.salary_data().drop(columns="salary").iloc[0].to_dict(), default=str)
    code = (
        "import json, sys, mldeploy; "
        f"model = mldeploy.load('salary@1', registry={str(salary_registry.root)!r}); "
        f"assert len(model.infer(json.loads({row!r})).values) == 1; "
        "print(','.join(m for m in ['sklearn', 'skops', 'scipy.special'] if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"a compiled regressor loaded: {done.stdout.strip()}"
