"""Every command, given bad arguments, answers with one line on stderr and its documented exit code."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

import mldeploy
from mldeploy.bundle import Bundle
from mldeploy.cli import main

import _bundles
import _models

pytestmark = pytest.mark.timeout(300)

INPUT, FAILURE = 2, 1  # the README's exit codes: the user's input, and failures of other systems


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A registry with salary@1 and strict@1 (log of a size, >1000 texts one-hot encoded strictly), and files."""
    root = tmp_path_factory.mktemp("bad")
    registry = mldeploy.Registry(root=root / "registry")
    _, features = _models.salary_pipeline()
    registry.register(_bundles.salary_bundle_at(root / "salary"))
    rng = np.random.default_rng(0)
    strict = pd.DataFrame({"size": rng.uniform(2, 400, 1200), "city": [f"c{i}" for i in range(1200)]})
    model = make_pipeline(make_column_transformer((FunctionTransformer(np.log), ["size"]),
                                                  (OneHotEncoder(handle_unknown="error"), ["city"])), LinearRegression())
    registry.register(Bundle.from_pipeline(model.fit(strict, strict["size"]), strict, name="strict", compile=False))
    registry.close()
    features.head(5).to_csv(root / "rows.csv", index=False)
    features.head(2).assign(age="old").to_csv(root / "bad_rows.csv", index=False)
    features.head(2).assign(**{"x" * 100_000: 1}).to_csv(root / "long_name.csv", index=False)
    pd.DataFrame({"size": [0.0], "city": ["c1"]}).to_csv(root / "log_zero.csv", index=False)
    pd.DataFrame({"size": [5.0], "city": ["never seen"]}).to_csv(root / "unseen.csv", index=False)
    _models.salary_data().head(200).to_csv(root / "train.csv", index=False)
    (root / "notakey.pem").write_text("not a key")
    (root / "garbage.mldeploy").write_bytes(b"not an archive")
    (root / "file").write_text("a file where a folder must go")
    ops = '[model]\nname = "salary"\ntarget = "salary"\n[data]\ncurrent = "train.csv"\nholdout = "train.csv"\n'
    (root / "ops.toml").write_text(ops)
    (root / "bad_ops.toml").write_text(ops + "[loop]\nintervl_s = 5\n")
    (root / "impossible_ops.toml").write_text(ops + '[gate]\nmetrics = [{metric = "r2", threshold = 1.5}]\n')
    return root


CASES = [  # (argv with {root} and {reg} filled in, exit code)
    ("demo --workdir {root}/file/x", INPUT),
    ("demo --workdir /proc/x", INPUT),
    ("train --data {root}/missing.csv --target salary", INPUT),
    ("train --data {root}/train.csv --target nope", INPUT),
    ("train --data {root}/train.csv --target salary --pipeline os:system", INPUT),
    ("train --data {root}/train.csv --target salary --pipeline _factories:raises", INPUT),
    ("train --data {root}/train.csv --target salary --pipeline _factories:not_callable", INPUT),
    ("train --data {root}/train.csv --target salary --pipeline _factories:returns_text", INPUT),
    ("train --data {root}/train.csv --target salary --pipeline no_such_module:f", INPUT),
    ("train --data {root}/train.csv --target salary --pipeline nocolon", INPUT),
    ("train --data {root}/train.csv --target salary --sign-key {root}/notakey.pem", INPUT),
    ("train --data {root}/train.csv --target salary --name bad\nname", INPUT),
    ("train --data {root}/train.csv --target salary --alias 1bad", INPUT),
    ("generate --out {root}/file/x.csv --rows 5", INPUT),
    ("generate --out {root}/x.txt --rows 5", INPUT),
    ("keygen --out {root}/file/k", INPUT),
    ("predict salary@9 --input {root}/rows.csv", INPUT),
    ("predict bad!ref --input {root}/rows.csv", INPUT),
    ("predict salary@1 --input {root}/missing.csv", INPUT),
    ("predict salary@1 --input {root}/bad_rows.csv", INPUT),
    ("predict salary@1 --input {root}/long_name.csv", INPUT),
    ("predict strict@1 --input {root}/log_zero.csv", INPUT),
    ("predict strict@1 --input {root}/unseen.csv", INPUT),
    ("predict salary@1 --input {root}/rows.csv --output {root}/file/out.json", INPUT),
    ("embed salary@9 --out {root}/dist", INPUT),
    ("embed salary@1 --out {root}/file/dist", INPUT),
    ("export-onnx salary@1 --out {root}/file/m.onnx", INPUT),
    ("export-onnx strict@1 --out {root}/m.onnx", INPUT),
    ("versions nope", INPUT),
    ("show nope@1", INPUT),
    ("show salary@1x", INPUT),
    ("alias salary@1 bad!alias", INPUT),
    ("alias nope@1 production", INPUT),
    ("delete salary@9 --force", INPUT),
    ("export salary@9 --out {root}/a.mldeploy", INPUT),
    ("export salary@1 --out {root}/file/a.mldeploy", INPUT),
    ("import {root}/missing.mldeploy", INPUT),
    ("import {root}/garbage.mldeploy", INPUT),
    ("import {root}/rows.csv", INPUT),
    ("drift salary@9 --current {root}/rows.csv", INPUT),
    ("drift salary@1 --current {root}/missing.csv", INPUT),
    ("drift salary@1 --current {root}/bad_rows.csv", INPUT),
    ("drift salary@1 --current {root}/unseen.csv", INPUT),
    ("drift salary@1 --current {root}/rows.csv --threshold psi=-1", INPUT),
    ("drift salary@1 --current {root}/rows.csv --threshold p_value=1", INPUT),
    ("drift salary@1 --current {root}/rows.csv --threshold town.psi=0.1", INPUT),
    ("drift salary@1 --current {root}/rows.csv --threshold psi", INPUT),
    ("drift salary@1 --current {root}/rows.csv --threshold nope=1", INPUT),
    ("drift salary@1 --current {root}/rows.csv --report {root}/file/r.html", INPUT),
    ("--public-key {root}/notakey.pem models", INPUT),
    ("--public-key {root}/missing.pem models", INPUT),
    ("--registry {root}/file models", INPUT),
    ("--registry {root}/no-registry-here versions salary", INPUT),
    ("example careers-site --ref salary@1 --mode carrier-pigeon --port 0", INPUT),
    ("example careers-site --ref salary@1 --mode browser --port 0 --js-dir {root}/no-js", INPUT),
    ("example careers-site --ref nope:production --port 0", INPUT),
    ("example careers-site --ref strict@1 --port 0", INPUT),
    ("example careers-site --ref salary@1 --port 0 --wheel-module no_such_model_wheel", INPUT),
    ("compare salary@1 --rows 0", INPUT),
    ("compare nope:production --rows 10", INPUT),
    ("retrain salary --data {root}/missing.csv --target salary", INPUT),
    ("retrain salary --data {root}/train.csv --target salary --champion bad!alias", INPUT),
    ("retrain nope --data {root}/train.csv --target salary", INPUT),
    ("retrain salary --data {root}/train.csv --target salary --pipeline nocolon", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/train.csv --target salary --metric mape", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/train.csv --target salary --threshold r2=1.5", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/train.csv --target salary --threshold r2", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/train.csv --target salary --metric accuracy", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/train.csv --target salary --slice department", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/rows.csv --target salary", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/missing.csv --target salary", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/train.csv --target salary --config {root}/bad_ops.toml", INPUT),
    ("gate salary@1 --against salary@1 --holdout {root}/train.csv --target salary --config {root}/impossible_ops.toml", INPUT),
    ("gate salary@1 --against salary@9 --holdout {root}/train.csv --target salary", INPUT),
    ("promote salary@1 --to production --reason ungated", INPUT),
    ("promote salary@1 --to bad!alias --reason x", INPUT),
    ("promote salary@9 --to production --reason x", INPUT),
    ("promote salary@1 --to production --reason x --force --config {root}/missing.toml", INPUT),
    ("rollback salary --alias production --reason x", INPUT),
    ("history nope", INPUT),
    ("loop salary --config {root}/missing.toml --once", INPUT),
    ("loop salary --config {root}/bad_ops.toml --once", INPUT),
    ("loop other --config {root}/ops.toml --once", INPUT),
    ("publish salary@1 --to local://{root}/log/models --follow", INPUT),
    ("publish salary:production --to local://{root}/log/models --follow", INPUT),
]


@pytest.mark.parametrize("argv, code", CASES, ids=[case[0].split(" {")[0][:40] for case in CASES])
def test_a_bad_argument_gets_one_line_and_its_exit_code(capsys, place, argv, code):
    args = [part.format(root=place, reg=place / "registry") for part in argv.split(" ")]
    if args[0] != "--public-key" and args[0] != "--registry":
        args = ["--registry", str(place / "registry"), *args]
    with pytest.raises(SystemExit) as done:
        main(args)  # an exception other than SystemExit here is a traceback for the user
    err = capsys.readouterr().err
    assert (done.value.code, "Traceback" in err) == (code, False), err
    assert len(err.strip().splitlines()) == 1 and len(err) < 2000, err
    with mldeploy.Registry(root=place / "registry") as registry:
        assert registry.aliases("salary") == {}  # nothing promoted


def test_import_with_a_bad_key_leaves_no_temporary_folder(capsys, place, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    archive = place / "salary.mldeploy"
    with mldeploy.Registry(root=place / "registry") as registry:
        archive.write_bytes(registry.get("salary@1").to_archive())
    with pytest.raises(SystemExit) as done:
        main(["--registry", str(place / "registry"), "import", str(archive), "--public-key", str(place / "notakey.pem")])
    assert done.value.code == INPUT and list(tmp_path.iterdir()) == []


def test_the_installed_command_prints_one_line_for_an_unexpected_failure(place):
    done = subprocess.run([sys.executable, "-c", "from mldeploy.cli import main; main()", "--registry", str(place / "registry"),
                           "train", "--data", str(place / "train.csv"), "--target", "salary", "--pipeline", "os:getcwd"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == INPUT and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_column_options_take_repeated_and_comma_separated_forms():
    from mldeploy.cli.training import column_list

    assert column_list(["id,ssn", "notes", " age , "]) == ["id", "ssn", "notes", "age"]
    assert column_list([]) == []
